"""The command line as a user meets it: listings, errors without tracebacks, a whole run."""

from __future__ import annotations

import json

BROKEN = "raise RuntimeError('this plugin is broken')\n"


def test_list_components_table_and_json(ganzoo_cli):
    result = ganzoo_cli("list-components", "generator")
    assert result.exit_code == 0
    assert "resnet_9blocks" in result.stdout and "networks" in result.stdout
    result = ganzoo_cli("list-components", "--json", "--filter", "resnet_*blocks")
    rows = json.loads(result.stdout)
    assert {r["name"] for r in rows} == {"resnet_6blocks", "resnet_9blocks"}
    assert all(r["dist"] == "ganzoo" and r["version"] for r in rows)


def test_list_components_unknown_kind(ganzoo_cli):
    result = ganzoo_cli("list-components", "generater")
    assert result.exit_code == 2
    assert "unknown kind 'generater'; did you mean 'generator'?" in result.stderr
    assert ganzoo_cli("list-components", "losses").exit_code == 0  # plural accepted


def test_describe_shows_fields_defaults_and_slots(ganzoo_cli):
    result = ganzoo_cli("describe", "method", "cyclegan")
    assert result.exit_code == 0
    for text in ("pool_size", "50", "optimizer.lr", "0.0002", "cycle_loss", "identity_loss", "weight=10.0"):
        assert text in result.stdout, text
    result = ganzoo_cli("describe", "generator", "resnet9")
    assert result.exit_code == 2 and "did you mean 'resnet_9blocks'" in result.stderr


def test_validate_reports_every_error_without_traceback(ganzoo_cli, tmp_path):
    bad = tmp_path / "bad.toml"
    bad.write_text('[recipe]\ntype = "cyclegan"\n[data]\ntype = "procedural"\n'
                   '[generator]\ntype = "resnet9"\n[discriminator]\nndff = 3\n')
    result = ganzoo_cli("validate", bad)
    assert result.exit_code == 2
    assert "Traceback" not in result.stderr
    assert f"{bad}: generator.type: unknown generator 'resnet9'; did you mean 'resnet_9blocks'?" in result.stderr
    assert f"{bad}: discriminator.ndff: unknown field; did you mean 'ndf'?" in result.stderr


def test_validate_ok_and_show(ganzoo_cli, tiny_recipe):
    result = ganzoo_cli("validate", tiny_recipe, "--show", "-s", "train.iterations=9")
    assert result.exit_code == 0, result.stderr
    assert "iterations = 9" in result.stdout and "ok" in result.stdout


def test_broken_plugin_does_not_break_the_cli(ganzoo_cli, fake_distribution):
    fake_distribution("ganzoo-broken", {"broken_plugin": BROKEN}, {"broken": "broken_plugin"})
    result = ganzoo_cli("list-components", "method")
    assert result.exit_code == 0 and "cyclegan" in result.stdout
    assert "plugin broken (ganzoo-broken 1.0) failed to load: RuntimeError: this plugin is broken" \
        in " ".join(result.stderr.split())
    result = ganzoo_cli("plugins", "--json")
    status = {p["name"]: p for p in json.loads(result.stdout)}
    assert status["broken"]["status"] == "failed" and status["networks"]["status"] == "loaded"
    assert ganzoo_cli("--help").exit_code == 0


def test_strict_plugins_fail_the_command(ganzoo_cli, fake_distribution, monkeypatch):
    fake_distribution("ganzoo-broken", {"broken_plugin": BROKEN}, {"broken": "broken_plugin"})
    monkeypatch.setenv("GANZOO_STRICT_PLUGINS", "1")
    result = ganzoo_cli("list-components")
    assert result.exit_code == 2
    assert "failed to load" in result.stderr and "Traceback" not in result.stderr


def test_run_then_resume_from_the_cli(ganzoo_cli, tiny_recipe, tmp_path):
    run_dir = tmp_path / "cli-run"
    result = ganzoo_cli("run", tiny_recipe, "--out", run_dir, "--no-progress", "-s", "train.iterations=2")
    assert result.exit_code == 0, result.stderr
    assert "finished at step 2" in result.stdout and "a2b/psnr" in result.stdout
    # a longer schedule for the same run continues from step 2
    text = (run_dir / "recipe.toml").read_text().replace("iterations = 2", "iterations = 3")
    (run_dir / "recipe.toml").write_text(text)
    result = ganzoo_cli("resume", run_dir, "--no-progress")
    assert result.exit_code == 0, result.stderr
    assert "resumed from" in result.stderr and "finished at step 3" in result.stdout


def test_run_with_missing_recipe_and_bad_resume(ganzoo_cli, tmp_path, tiny_recipe):
    result = ganzoo_cli("run", tmp_path / "nope.toml")
    assert result.exit_code == 2 and "recipe file not found" in result.stderr
    result = ganzoo_cli("run", tiny_recipe, "--resume", "--out", tmp_path / "never")
    assert result.exit_code == 2 and "has no checkpoints to resume from" in result.stderr
