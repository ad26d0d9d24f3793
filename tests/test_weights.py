"""``ganzoo weights``: the metrics' published weights fetched into torch hub's cache from a local
HTTP server (checksummed, atomic, resumable; HTML pages and wrong files are never cached)."""

from __future__ import annotations

import hashlib
import io
import json
import subprocess
import sys

import pytest
import torch
from test_download import server  # noqa: F401 - the Range-capable HTTP server on 127.0.0.1

from ganzoo.data.download import DownloadError
from ganzoo.errors import GanzooError
from ganzoo.metrics import weights as W


def torch_file(seed: int = 0) -> bytes:
    buf = io.BytesIO()
    torch.save({"w": torch.randn(4000, generator=torch.Generator().manual_seed(seed))}, buf)
    return buf.getvalue()


@pytest.fixture
def hub(tmp_path, monkeypatch):
    """An empty torch hub cache for this test."""
    monkeypatch.setenv("TORCH_HOME", str(tmp_path / "torch"))
    monkeypatch.delenv(W.MIRROR_ENV, raising=False)
    return tmp_path / "torch" / "hub" / "checkpoints"


def entry_for(data: bytes, name: str = "fake") -> W.WeightsEntry:
    digest = hashlib.sha256(data).hexdigest()
    return W.WeightsEntry(name, f"fake-{digest[:8]}.pth", "http://127.0.0.1:9/unused", digest[:8], "1 KB", "tests")


def test_fetch_verifies_and_caches_atomically_then_skips(server, hub):  # noqa: F811
    base, served = server
    data = torch_file()
    entry = entry_for(data)
    served.files[f"/{entry.filename}"] = data
    result = W.fetch_weights(entry, mirror=base, progress=False)
    assert result.path == hub / entry.filename and result.path.read_bytes() == data and not result.skipped
    assert torch.load(result.path, weights_only=True)["w"].shape == (4000,)
    assert sorted(p.name for p in hub.iterdir()) == [entry.filename]  # no temporary left behind
    again = W.fetch_weights(entry, mirror=base, progress=False)
    assert again.skipped and len(served.requests) == 1


@pytest.mark.parametrize("body", [b"<!DOCTYPE html><html><body>Sign in</body></html>", b"\x00garbage" * 100])
def test_an_html_page_or_a_wrong_file_is_never_cached(server, hub, body):  # noqa: F811
    base, served = server
    entry = entry_for(torch_file())
    served.files[f"/{entry.filename}"] = body
    with pytest.raises(GanzooError, match="HTML page" if body.startswith(b"<") else "not a PyTorch file"):
        W.fetch_weights(entry, mirror=base, progress=False)
    assert not hub.exists() or list(hub.iterdir()) == []


def test_a_torch_file_with_the_wrong_checksum_is_never_cached(server, hub):  # noqa: F811
    base, served = server
    entry = entry_for(torch_file(0))
    served.files[f"/{entry.filename}"] = torch_file(1)  # a real PyTorch file, but not that one
    with pytest.raises(GanzooError, match="checksum mismatch.*nothing was cached"):
        W.fetch_weights(entry, mirror=base, progress=False)
    assert list(hub.iterdir()) == []


def test_an_interrupted_download_resumes_and_is_only_then_cached(server, hub):  # noqa: F811
    base, served = server
    data = torch_file()
    entry = entry_for(data)
    served.files[f"/{entry.filename}"] = data
    served.cut_after[f"/{entry.filename}"] = len(data) // 3
    with pytest.raises(DownloadError, match="run the same command again to resume"):
        W.fetch_weights(entry, mirror=base, progress=False)
    assert not (hub / entry.filename).exists()  # the partial file is kept under another name
    result = W.fetch_weights(entry, mirror=base, progress=False)
    assert result.resumed_from == len(data) // 3 and result.path.read_bytes() == data
    assert served.requests[-1][1] == f"bytes={len(data) // 3}-"


def test_a_corrupt_cached_file_is_reported_and_replaced_with_force(server, hub):  # noqa: F811
    base, served = server
    data = torch_file()
    entry = entry_for(data)
    served.files[f"/{entry.filename}"] = data
    hub.mkdir(parents=True)
    (hub / entry.filename).write_bytes(data[:100])
    with pytest.raises(GanzooError, match="--force"):
        W.fetch_weights(entry, mirror=base, progress=False)
    assert W.fetch_weights(entry, mirror=base, progress=False, force=True).path.read_bytes() == data


def test_cli_list_and_fetch_through_the_mirror_variable(server, hub, ganzoo_cli, monkeypatch):  # noqa: F811
    base, served = server
    data = torch_file()
    fake = entry_for(data, name="inception")
    monkeypatch.setitem(W.CATALOG, "inception", fake)
    served.files[f"/{fake.filename}"] = data
    monkeypatch.setenv(W.MIRROR_ENV, base)
    listed = ganzoo_cli("weights", "list", "--json")
    assert listed.exit_code == 0
    rows = {r["name"]: r for r in json.loads(listed.stdout)}
    assert {"inception", "lpips-alex", "lpips-vgg", "lpips-squeeze"} <= set(rows)
    assert rows["inception"]["present"] is False and rows["inception"]["path"] == str(hub / fake.filename)
    fetched = ganzoo_cli("weights", "fetch", "inception", "inception", "--no-progress")
    assert fetched.exit_code == 0, fetched.output
    assert fetched.stdout.count("ok") == 1 and (hub / fake.filename).read_bytes() == data  # once, not twice
    assert json.loads(ganzoo_cli("weights", "list", "--json").stdout)[0]["present"] is True
    unknown = ganzoo_cli("weights", "fetch", "inceptoin")
    assert unknown.exit_code == 2 and "unknown weights 'inceptoin'" in unknown.output


def test_missing_weights_say_which_command_fetches_them(hub, monkeypatch):
    from ganzoo.metrics.inception import resolve_inception_weights
    from ganzoo.metrics.paired import resolve_lpips_backbone

    monkeypatch.delenv("GANZOO_INCEPTION_WEIGHTS", raising=False)
    monkeypatch.delenv("GANZOO_LPIPS_BACKBONE", raising=False)
    with pytest.raises(GanzooError, match="ganzoo weights fetch inception"):
        resolve_inception_weights()
    with pytest.raises(GanzooError, match="ganzoo weights fetch lpips-alex"):
        resolve_lpips_backbone("alex")


def test_the_catalog_names_the_files_the_loaders_look_for():
    from ganzoo.metrics.inception import FID_WEIGHTS_NAME
    from ganzoo.metrics.paired import LPIPS_BACKBONES

    assert W.CATALOG["inception"].filename == FID_WEIGHTS_NAME
    for net, (_, filename) in LPIPS_BACKBONES.items():
        entry = W.CATALOG[f"lpips-{net}"]
        assert entry.filename == filename and filename.split("-")[-1].startswith(entry.sha256)


@pytest.mark.parametrize("env", [{"TORCH_HOME": "/tmp/th"}, {"XDG_CACHE_HOME": "/tmp/xdg"}, {}])
def test_hub_folder_without_torch_is_torch_hubs(env, monkeypatch):
    for key in ("TORCH_HOME", "XDG_CACHE_HOME"):
        monkeypatch.delenv(key, raising=False)
    for key, value in env.items():
        monkeypatch.setenv(key, value)
    code = ("import sys; from ganzoo.metrics.weights import hub_checkpoints_dir as h; mine = h(); "
            "assert 'torch' not in sys.modules; import torch, pathlib; "
            "print(mine == pathlib.Path(torch.hub.get_dir()) / 'checkpoints')")
    assert subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout == "True\n"
