"""Sample grids: the same inputs at every step, labelled columns, a readable size, one grid per
step (no duplicate final.png), and the loss curves redrawn with each grid."""

from __future__ import annotations

import json

import numpy as np
import pytest
import torch
from PIL import Image
from torch import nn

from ganzoo.engine.samples import MIN_CELL, SampleInputs, grid_image, translate_rows
from ganzoo.engine.trainer import Trainer
from ganzoo.recipe import load_recipe


def fit(recipe, run_dir, *overrides):
    return Trainer(load_recipe(recipe, list(overrides)), run_dir=run_dir, show_progress=False).fit()


def records(run_dir):
    return [json.loads(line) for line in (run_dir / "metrics.jsonl").read_text().splitlines()]


def cells(path, rows, cols):
    """The grid's image cells as arrays (below the label header)."""
    image = np.asarray(Image.open(path).convert("RGB"))
    h = (image.shape[0] - 22 - 4) // rows - 4
    w = (image.shape[1] - 4) // cols - 4
    return [[image[22 + i * (h + 4): 22 + i * (h + 4) + h, 4 + j * (w + 4): 4 + j * (w + 4) + w]
             for j in range(cols)] for i in range(rows)], (h, w)


def test_grids_show_the_same_test_inputs_labelled_and_readable(tiny_recipe, tmp_path):
    run = fit(tiny_recipe, tmp_path / "run", "train.iterations=4", "train.sample_every=2").run_dir
    assert sorted(p.name for p in (run / "samples").iterdir()) == ["step_0000002.png", "step_0000004.png"]
    logged = [r for r in records(run) if r["kind"] == "samples"]
    assert [r["step"] for r in logged] == [2, 4]
    assert logged[0]["columns"] == ["real_A", "fake_B", "rec_A", "real_B", "fake_A", "rec_B"]
    assert logged[0]["inputs"] == "first test items"
    first, (h, w) = cells(run / "samples" / "step_0000002.png", 4, 6)
    last, _ = cells(run / "samples" / "step_0000004.png", 4, 6)
    assert h >= MIN_CELL and w >= MIN_CELL  # 16 px images, scaled up 8x
    test = load_recipe(tiny_recipe).build_dataset("test")
    for i in range(4):
        assert np.array_equal(first[i][0], last[i][0]) and np.array_equal(first[i][3], last[i][3])
        expected = ((test[i]["A"].clamp(-1, 1) + 1) * 127.5).round().byte().permute(1, 2, 0).numpy()
        assert np.array_equal(first[i][0][::8, ::8], expected)  # real_A is test item i, nearest-upscaled
    assert not np.array_equal(first[0][1], last[0][1])  # the translations changed with training
    page = (run / "index.html").read_text()
    assert "step 4 (final): real_A | fake_B | rec_A | real_B | fake_A | rec_B" in page


def test_without_a_test_split_the_grid_uses_one_fixed_training_batch(tiny_recipe, tmp_path):
    rng = np.random.default_rng(0)
    for sub in ("trainA", "trainB"):
        (tmp_path / "data" / sub).mkdir(parents=True)
        for i in range(5):
            pixels = rng.integers(0, 255, (20, 20, 3), dtype=np.uint8)
            Image.fromarray(pixels).save(tmp_path / "data" / sub / f"{i}.png")
    overrides = ["data.type='unpaired_folders'", f"data.root='{tmp_path / 'data'}'", "data.load_size=18",
                 "data.crop_size=16"]
    text = tiny_recipe.read_text()
    tiny_recipe.write_text(text[:text.index("[data]")] + text[text.index("[generator]"):])
    resolved = load_recipe(tiny_recipe, overrides)
    train = resolved.build_dataset("train")
    one, two = SampleInputs.build(resolved, train, seed=3), SampleInputs.build(resolved, train, seed=3)
    assert one.split == "train" and len(one.items) == 4 and one.paired is False
    pairs = zip(one.items, two.items, strict=True)
    assert all(torch.equal(a["A"], b["A"]) and torch.equal(a["B"], b["B"]) for a, b in pairs)
    state = torch.get_rng_state()
    SampleInputs.build(resolved, train, seed=4)
    assert torch.equal(state, torch.get_rng_state())  # drawing them leaves the run's random stream alone
    run = fit(tiny_recipe, tmp_path / "run", *overrides, "train.iterations=2", "train.sample_every=1").run_dir
    assert [r["inputs"] for r in records(run) if r["kind"] == "samples"] == ["first train items"] * 2
    a, _ = cells(run / "samples" / "step_0000001.png", 4, 6)
    b, _ = cells(run / "samples" / "step_0000002.png", 4, 6)
    assert all(np.array_equal(a[i][0], b[i][0]) for i in range(4))


class OneWay(nn.Module):
    """A method that translates A->B only (as pix2pix)."""

    directions = ("a2b",)

    def __init__(self):
        super().__init__()
        self.net = nn.Sequential(nn.Conv2d(3, 3, 1))

    def translate(self, x, direction="a2b"):
        return torch.tanh(self.net(x))

    def generators(self):
        return {"G": self.net}


def test_one_direction_on_paired_data_shows_the_ground_truth():
    items = [{"A": torch.rand(3, 8, 12) * 2 - 1, "B": torch.rand(3, 8, 12) * 2 - 1} for _ in range(2)]
    labels, rows = translate_rows(OneWay(), items, paired=True)
    assert labels == ["real_A", "fake_B", "real_B"]
    assert torch.equal(rows[1][2], items[1]["B"]) and rows[0][1].shape == (3, 8, 12)
    assert translate_rows(OneWay(), items, paired=False)[0] == ["real_A", "fake_B"]


def test_grid_draws_each_label_above_its_column():
    rows = [[torch.full((1, 10, 20), -1.0), torch.ones(3, 10, 20)]]  # a grey image beside an RGB one
    image = grid_image(["real_A", "fake_B"], rows, min_cell=64)
    assert image.size == (2 * (140 + 4) + 4, 22 + 70 + 4 + 4)  # scale 7: 10 px -> 70, 20 px -> 140
    header = np.asarray(image)[:22]
    for j in range(2):
        column = header[:, 4 + j * 144: 4 + j * 144 + 140]
        assert (column < 100).any(), f"no text above column {j}"
    assert np.asarray(image)[30, 10].tolist() == [0, 0, 0] and np.asarray(image)[30, 160].tolist() == [255, 255, 255]


def test_loss_curves_are_redrawn_with_every_grid(tiny_recipe, tmp_path, monkeypatch):
    from ganzoo.engine import reporter

    drawn = []
    original = reporter.plot_losses
    monkeypatch.setattr(reporter, "plot_losses", lambda recs, path: drawn.append(
        max((r["step"] for r in recs if r["kind"] == "train"), default=0)) or original(recs, path))
    fit(tiny_recipe, tmp_path / "run", "train.iterations=4", "train.sample_every=2")
    assert drawn[:2] == [2, 4]  # at each grid, with the losses up to that step (then once more at the end)


@pytest.mark.parametrize("sample_every", [0, 3])
def test_the_last_step_always_has_one_grid(tiny_recipe, tmp_path, sample_every):
    run = fit(tiny_recipe, tmp_path / "run", "train.iterations=4", f"train.sample_every={sample_every}").run_dir
    names = sorted(p.name for p in (run / "samples").iterdir())
    assert names == (["step_0000004.png"] if sample_every == 0 else ["step_0000003.png", "step_0000004.png"])
