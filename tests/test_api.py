"""The Python API: ganzoo.train, ganzoo.load (a Model translating tensors, PIL images and
folders) and ganzoo.evaluate, and the example of docs/python-api.md, run at tiny sizes."""

from __future__ import annotations

import subprocess
import sys

import pytest
import torch
from doc_examples import REPO, make_sandbox, runnable_blocks, tiny_overrides
from PIL import Image

import ganzoo
from ganzoo.errors import GanzooError, RecipeError
from ganzoo.recipe import read_toml
from ganzoo.testing import TINY_RECIPE

PYTHON_API_MD = REPO / "docs" / "python-api.md"


def test_the_functions_are_public_and_import_ganzoo_stays_light():
    assert {"train", "load", "evaluate", "Model"} <= set(ganzoo.__all__)
    code = ("import sys, ganzoo; assert 'torch' not in sys.modules; names = [ganzoo.train, ganzoo.load, "
            "ganzoo.evaluate]; assert 'torch' not in sys.modules, 'the API functions load torch when called'")
    subprocess.run([sys.executable, "-c", code], check=True, cwd=REPO)


def test_the_documented_example_runs(tmp_path, monkeypatch, capsys):
    """docs/python-api.md's example as written, with ganzoo.train shrunk as the README test
    shrinks ganzoo run (the example's own overrides still apply, then the tiny ones)."""
    from ganzoo.api import train
    from ganzoo.recipe import load_recipe

    def tiny_train(recipe, overrides=(), **kwargs):
        resolved = load_recipe(recipe, overrides, check_data=False)
        return train(recipe, {**dict(overrides), **tiny_overrides(resolved.to_dict())}, **kwargs)

    monkeypatch.chdir(make_sandbox(tmp_path))
    monkeypatch.setattr(ganzoo, "train", tiny_train)
    blocks = [b for b in runnable_blocks(PYTHON_API_MD) if b.language == "python"]
    assert blocks, "docs/python-api.md has no runnable python block"
    for block in blocks:
        exec(compile(block.text, str(PYTHON_API_MD), "exec"), {"__name__": "__doc_example__"})
    printed = capsys.readouterr().out
    assert "trained 2 iterations into runs/api-demo" in printed
    assert "(48, 40) -> (48, 40)" in printed and "torch.Size([2, 3, 32, 32])" in printed
    assert "a2b/psnr:" in printed and "b2a/ssim:" in printed


def test_train_takes_a_dict_with_nested_overrides_and_returns_the_result(tmp_path):
    (tmp_path / "tiny.toml").write_text(TINY_RECIPE)
    recipe = read_toml(tmp_path / "tiny.toml")
    result = ganzoo.train(recipe, {"train": {"iterations": 2}, "data.test_size": 3}, run_dir=tmp_path / "run",
                          progress=False)
    assert result.run_dir == tmp_path / "run" and result.step == 2
    saved = read_toml(result.run_dir / "recipe.toml")
    assert saved["train"]["batch_size"] == 2, "a nested override merges into the table, it does not replace it"
    assert saved["data"]["test_size"] == 3 and [e["step"] for e in result.evaluations] == [0, 2]
    # resuming takes only what ganzoo resume --set takes; a longer run extends it
    with pytest.raises(RecipeError, match="generator.ngf: cannot change when resuming"):
        ganzoo.train(result.run_dir / "recipe.toml", {"generator.ngf": 8}, run_dir=result.run_dir, resume=True)
    longer = ganzoo.train(result.run_dir / "recipe.toml", {"train.iterations": 3}, run_dir=result.run_dir,
                          resume=True, progress=False)
    assert longer.step == 3


def test_a_loaded_model_translates_tensors_pil_images_and_folders(tiny_run, tmp_path):
    model = ganzoo.load(tiny_run, device="cpu")
    assert model.directions == ("a2b", "b2a") and model.checkpoint.name == "final"
    x = torch.rand(3, 18, 22) * 2 - 1
    y = model.translate(x, "b2a")
    assert y.shape == x.shape and y.abs().max() <= 1
    batch = torch.stack([x, -x])
    assert torch.allclose(model(batch)[0], model(x), atol=1e-5), "a batch translates as its images alone"
    image = Image.new("RGB", (23, 17), (200, 90, 40))
    out = model.translate(image)
    assert isinstance(out, Image.Image) and out.size == (23, 17) and out.mode == "RGB"
    assert [o.size for o in model.translate([image, image.resize((9, 9))])] == [(23, 17), (9, 9)]
    inputs = tmp_path / "in"
    inputs.mkdir()
    image.save(inputs / "a.png")
    report = model.translate_folder(inputs, tmp_path / "out", "a2b")
    assert report.written == 1 and (tmp_path / "out" / "a.png").is_file()
    with pytest.raises(GanzooError, match="translates a2b, b2a, not 'x2y'"):
        model.translate(x, "x2y")
    with pytest.raises(GanzooError, match="for files and folders use translate_folder"):
        model.translate(str(inputs / "a.png"))


def test_evaluate_a_run_with_its_own_metrics_or_named_ones(tiny_run):
    report = ganzoo.evaluate(tiny_run, device="cpu")
    assert set(report.results) == {"a2b/psnr", "a2b/ssim", "b2a/psnr", "b2a/ssim"}
    model = ganzoo.load(tiny_run, device="cpu")
    assert set(ganzoo.evaluate(model, ["psnr"], directions=["b2a"], max_items=4).results) == {"b2a/psnr"}
    assert report.protocol["checkpoint"].endswith("final")
