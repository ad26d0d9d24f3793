"""The command line starts without torch: ``--help``, ``--version``, completion and the listings
that need no model import neither torch nor a component module (components are registered by
import path, plugin packages export lazily). Checked on ``sys.modules`` in a fresh interpreter,
not on a timing, so the test holds on a loaded machine."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

HEAVY = ("torch", "torchvision", "numpy", "PIL", "ganzoo.components", "ganzoo.engine", "ganzoo_networks.resnet")

PROBE = """
import json, sys
from ganzoo.cli import app
try:
    app(sys.argv[1:], prog_name="ganzoo")
except SystemExit as exc:
    code = exc.code
else:
    code = 0
heavy = [m for m in {heavy!r} if m in sys.modules]
print(json.dumps({{"code": code, "heavy": heavy}}), file=sys.stderr)
"""


def probe(*args: str, env: dict[str, str] | None = None) -> tuple[dict, str]:
    """Run ``ganzoo ARGS`` in a fresh interpreter; (exit code and heavy modules loaded, stdout)."""
    result = subprocess.run([sys.executable, "-c", PROBE.format(heavy=HEAVY), *args], capture_output=True,
                            text=True, timeout=120, env={**os.environ, **(env or {})})
    report = json.loads(result.stderr.strip().splitlines()[-1])
    return report, result.stdout


@pytest.mark.parametrize("args", [
    ("--help",), ("--version",), ("list-components",), ("list-components", "loss", "--json"), ("plugins",),
    ("plugins", "--json"), ("recipes",), ("recipes", "--json"), ("run", "--help"), ("export", "--help"),
    ("data", "list"), ("plugin", "check", str(Path(__file__).resolve().parents[1] / "plugins" / "ganzoo_cyclegan")),
], ids=lambda args: " ".join(Path(a).name for a in args))
def test_listing_and_help_import_no_torch(args):
    report, stdout = probe(*args)
    assert report["code"] in (0, None), (args, report, stdout)
    assert report["heavy"] == [], f"ganzoo {' '.join(args)} imported {report['heavy']}"
    assert stdout.strip()


def test_version_and_listing_contents():
    _, stdout = probe("--version")
    import ganzoo

    assert stdout.strip() == f"ganzoo {ganzoo.__version__}"
    _, stdout = probe("list-components", "--json")
    rows = {(r["kind"], r["name"]): r for r in json.loads(stdout)}
    # summaries come from the registration, else from the class docstring read from source
    assert rows[("loss", "lsgan")]["summary"].startswith("Least-squares GAN")
    assert rows[("metric", "fid")]["summary"].startswith("Frechet Inception Distance")
    assert rows[("generator", "resnet_9blocks")]["plugin"] == "networks"


def test_completion_imports_no_torch():
    report, stdout = probe(env={"_GANZOO_COMPLETE": "complete_bash", "COMP_WORDS": "ganzoo list-c", "COMP_CWORD": "1"})
    assert report["heavy"] == []
    assert "list-components" in stdout
