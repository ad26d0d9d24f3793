"""The README's and the getting-started guide's runnable commands run, in order, at tiny sizes
(see tests/doc_examples.py): a documented command that breaks fails CI."""

from __future__ import annotations

import json

import pytest
from doc_examples import REPO, Block, commands, make_sandbox, run_bash_block, runnable_blocks, shrink

README = REPO / "README.md"
GETTING_STARTED = REPO / "docs" / "getting-started.md"


def test_the_readme_marks_its_first_hour_commands_runnable():
    """What a new user types first is under test: the quickstart, their own images, resume,
    translate and evaluate."""
    marked = [" ".join(args) for block in runnable_blocks(README) for args in commands(block)]
    for expected in ("run recipes/quickstart.toml", "run recipes/own_folders.toml --data DATA",
                     "resume runs/quickstart --set train.iterations=", "translate runs/quickstart",
                     "evaluate runs/quickstart"):
        assert any(command.startswith(expected) for command in marked), f"README: `ganzoo {expected}` not marked"


@pytest.mark.slow
def test_readme_commands_run(ganzoo_cli, ganzoo_registry, tmp_path, monkeypatch):
    monkeypatch.chdir(make_sandbox(tmp_path))
    blocks = runnable_blocks(README)
    for block in blocks:
        run_bash_block(block, ganzoo_cli, ganzoo_registry)
    # what the commands promised is there: the quickstart ran, was extended, translated; own data ran
    quickstart = tmp_path / "runs" / "quickstart"
    assert json.loads((quickstart / "checkpoints" / "final" / "meta.json").read_text())["step"] == 3
    assert sorted(p.name for p in (tmp_path / "out").iterdir()) == ["0.png", "1.png"]
    assert (tmp_path / "runs" / "cyclegan-DATA" / "checkpoints" / "final").is_dir()


@pytest.mark.slow
def test_getting_started_commands_run(ganzoo_cli, ganzoo_registry, tmp_path, monkeypatch):
    monkeypatch.chdir(make_sandbox(tmp_path))
    blocks = runnable_blocks(GETTING_STARTED)
    marked = " ".join(" ".join(args) for block in blocks for args in commands(block))
    for expected in ("run recipes/quickstart.toml", "--data DATA", "resume runs/longer --set", "translate", "evaluate"):
        assert expected in marked, f"getting-started: `{expected}` not marked runnable"
    for block in blocks:
        run_bash_block(block, ganzoo_cli, ganzoo_registry)
    assert len(list((tmp_path / "translated").iterdir())) == 2


def test_a_broken_command_fails_the_readme_test(ganzoo_cli, ganzoo_registry, tmp_path, monkeypatch):
    monkeypatch.chdir(make_sandbox(tmp_path))
    broken = Block("README.md", 1, "bash", "ganzoo validate recipes/quickstart.toml -s data.image_sise=16")
    with pytest.raises(AssertionError, match="(?s)exited 2:.*image_sise: unknown field"):
        run_bash_block(broken, ganzoo_cli, ganzoo_registry)
    with pytest.raises(AssertionError, match="only ganzoo commands"):
        list(commands(Block("README.md", 1, "bash", "make quickstart")))


def test_tiny_overrides_follow_the_recipe_a_command_resolves_to(ganzoo_registry, tmp_path, monkeypatch):
    monkeypatch.chdir(make_sandbox(tmp_path))
    procedural = shrink(["run", "recipes/quickstart.toml", "-s", "train.iterations=600"], ganzoo_registry)
    assert "--set=data.image_size=16" in procedural and "--set=train.iterations=2" in procedural
    folders = shrink(["run", "recipes/quickstart.toml", "--data", "DATA"], ganzoo_registry)
    assert "--set=data.crop_size=16" in folders and not any("image_size" in a for a in folders)
