"""From the quickstart to one's own data: a changed type drops the old type's fields, --unset,
--data, a run named after its data, the own-folders recipe, and missing test folders reported
at validation and at training start."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from ganzoo.errors import RecipeError
from ganzoo.overrides import apply_overrides
from ganzoo.recipe import load_recipe

RECIPES = Path(__file__).resolve().parent.parent / "recipes"


def images(folder, n=3, size=(20, 24)):
    folder.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(0)
    for i in range(n):
        Image.fromarray(rng.integers(0, 256, (*size, 3), dtype=np.uint8)).save(folder / f"{i}.png")
    return folder


@pytest.fixture
def data(tmp_path):
    root = tmp_path / "summer2winter"
    for split in ("trainA", "trainB", "testA", "testB"):
        images(root / split)
    return root


def test_a_changed_type_drops_the_old_types_fields_and_says_so(ganzoo_registry, data):
    # the README's command that used to fail with "data.image_size: unknown field"
    resolved = load_recipe(RECIPES / "quickstart.toml", ["data.type=unpaired_folders", f"data.root='{data}'",
                                                         "data.crop_size=16", "data.load_size=18"], ganzoo_registry)
    assert resolved.data.spec.name == "unpaired_folders" and resolved.data.config.crop_size == 16
    assert any("data.type 'procedural' -> 'unpaired_folders': dropped image_size" in n for n in resolved.notes)
    # keys set on the command line stay, whatever their order; fields the new type shares stay
    resolved = load_recipe(RECIPES / "quickstart.toml", ["generator.ngf=8", "generator.type=resnet_9blocks"],
                           ganzoo_registry)
    assert resolved.slots["generator"].spec.name == "resnet_9blocks" and resolved.slots["generator"].config.ngf == 8
    resolved = load_recipe(RECIPES / "quickstart.toml", ["discriminator.type=pixel"], ganzoo_registry)
    assert any("dropped n_layers (not fields of 'pixel'); kept ndf" in n for n in resolved.notes)
    assert resolved.slots["discriminator"].config.ndf == 16


def test_without_component_knowledge_a_changed_type_keeps_only_the_command_lines_keys():
    result = apply_overrides({"data": {"type": "procedural", "image_size": 32}},
                             ["data.root=x", "data.type=unpaired_folders"])
    assert result.data["data"] == {"type": "unpaired_folders", "root": "x"}
    same = apply_overrides({"data": {"type": "procedural", "image_size": 32}}, ["data.type=procedural"])
    assert same.data["data"] == {"type": "procedural", "image_size": 32} and not same.notes


def test_unset_removes_a_key_or_a_table_and_names_its_mistakes(ganzoo_registry):
    resolved = load_recipe(RECIPES / "quickstart.toml", [], ganzoo_registry, unset=["discriminator.n_layers",
                                                                                    "generator"])
    assert resolved.slots["discriminator"].config.n_layers == 3  # the default again
    assert resolved.slots["generator"].spec.name == "resnet_9blocks" and resolved.slots["generator"].config.ngf == 64
    with pytest.raises(RecipeError) as info:
        load_recipe(RECIPES / "quickstart.toml", ["train.iterations=3"], ganzoo_registry,
                    unset=["data.nope", "train.iterations"])
    assert "--unset #1: data.nope: is not in the recipe, nothing to remove" in str(info.value)
    assert "--unset #2: train.iterations: is both set (--set #1) and removed" in str(info.value)


def test_one_length_replaces_the_other():
    result = apply_overrides({"train": {"epochs": 200, "batch_size": 1}}, {"train.iterations": 5})
    assert result.data["train"] == {"iterations": 5, "batch_size": 1}


def test_data_flag_and_the_run_named_after_the_data(ganzoo_registry, data):
    quick = load_recipe(RECIPES / "quickstart.toml", [], ganzoo_registry, data=data)
    assert quick.data.spec.name == "unpaired_folders" and str(quick.data.config.root) == str(data)
    assert quick.name == "cyclegan-summer2winter"
    assert any("run.name: 'cyclegan-summer2winter', not the recipe's 'quickstart'" in n for n in quick.notes)
    # a recipe on folders keeps its type and settings, only the root moves; --set wins over --data
    own = load_recipe(RECIPES / "own_folders.toml", ["data.crop_size=128", "run.name=mine"], ganzoo_registry,
                      data=data)
    assert own.data.spec.name == "unpaired_folders" and own.data.config.load_size == 286
    assert own.data.config.crop_size == 128 and own.name == "mine"
    # the same data again is no new data: the recipe's name stays
    assert load_recipe(RECIPES / "quickstart.toml", ["data.type=procedural", "data.image_size=16"],
                       ganzoo_registry).name == "quickstart"
    # two folders: A2B
    two = apply_overrides({"method": {"type": "cyclegan"}, "data": {}},
                          {"data.type": "two_folders", "data.dir_a": "/x/summer", "data.dir_b": "/y/winter"})
    assert two.data["run"]["name"] == "cyclegan-summer2winter"


def test_the_own_folders_recipe_documents_its_layout_and_validates(ganzoo_cli, data):
    text = (RECIPES / "own_folders.toml").read_text()
    for words in ("trainA", "testB", "--data DATA", "What to change"):
        assert words in text
    result = ganzoo_cli("validate", RECIPES / "own_folders.toml", "--data", data)
    assert result.exit_code == 0, result.stderr
    assert "run 'cyclegan-summer2winter'" in result.stdout and "warning" not in result.stderr


@pytest.mark.parametrize("problem", ["missing", "empty"])
def test_a_missing_or_empty_test_folder_is_a_warning_at_validation(ganzoo_cli, data, problem):
    for f in (data / "testB").iterdir():
        f.unlink()
    if problem == "missing":
        (data / "testB").rmdir()
    result = ganzoo_cli("validate", RECIPES / "own_folders.toml", "--data", data)
    assert result.exit_code == 0, "training can proceed without a test split"
    assert "warning: data: no usable test split: domain B of split test: folder" in result.stderr
    assert "testB" in result.stderr and "no evaluation during training" in result.stderr


def test_a_run_without_a_test_split_says_so_when_it_starts(ganzoo_cli, data, tiny_recipe, tmp_path):
    import shutil

    shutil.rmtree(data / "testA")
    result = ganzoo_cli("run", tiny_recipe, "--data", data, "-s", "data.load_size=18", "-s", "data.crop_size=16",
                        "-s", "train.iterations=1", "--out", tmp_path / "run", "--no-progress")
    assert result.exit_code == 0, result.stderr
    assert "warning: no usable test split (domain A of split test: folder" in result.stderr
    assert "the run is not evaluated and keeps no checkpoints/best" in result.stderr
