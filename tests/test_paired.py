"""Folder datasets on tiny generated files: aligned AB files, paired folders, two folders,
unpaired folders; grayscale, odd sizes, small images, broken and non-image files, empty folders,
and ``ganzoo data check``."""

from __future__ import annotations

import warnings
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

from ganzoo.data.folders import UnpairedFolderConfig, UnpairedFolderDataset
from ganzoo.data.images import DataWarning
from ganzoo.data.paired import (
    AlignedConfig,
    AlignedDataset,
    PairedFoldersConfig,
    PairedFoldersDataset,
    PairedTransform,
    match_pairs,
)
from ganzoo.data.transforms import ImageTooSmallError, ScaleShortSide, build_transform, to_tensor
from ganzoo.data.two_folders import TwoFoldersConfig, TwoFoldersDataset
from ganzoo.errors import DataError


def noise(w: int, h: int, seed: int, mode: str = "RGB") -> Image.Image:
    rng = np.random.default_rng(seed)
    channels = {"RGB": 3, "L": 1, "RGBA": 4}[mode]
    arr = rng.integers(0, 256, size=(h, w, channels), dtype=np.uint8)
    return Image.fromarray(arr[..., 0] if channels == 1 else arr, mode)


def save(img: Image.Image, path: Path) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    img.save(path)
    return path


def side_by_side(a: Image.Image, b: Image.Image) -> Image.Image:
    out = Image.new("RGB", (a.width + b.width, a.height))
    out.paste(a.convert("RGB"), (0, 0))
    out.paste(b.convert("RGB"), (a.width, 0))
    return out


def truncated_jpeg(path: Path) -> Path:
    save(noise(40, 40, 99), path)
    data = path.read_bytes()
    path.write_bytes(data[: len(data) // 2])
    return path


def aligned_cfg(root: Path, **kw) -> AlignedConfig:
    base = dict(root=root, load_size=20, crop_size=16)
    return AlignedConfig(**{**base, **kw})


# ---------------------------------------------------------------- aligned


def test_aligned_splits_halves_and_direction(tmp_path):
    a, b = noise(24, 24, 1), noise(24, 24, 2)
    save(side_by_side(a, b), tmp_path / "facades" / "train" / "1.png")
    cfg = aligned_cfg(tmp_path / "facades", preprocess="none")
    item = AlignedDataset(cfg)[0]
    assert item["A"].shape == item["B"].shape == (3, 24, 24)
    assert item["A"].min() >= -1 and item["A"].max() <= 1
    ds = AlignedDataset(aligned_cfg(tmp_path / "facades", preprocess="none", no_flip=True))
    expect_a = torch.from_numpy(np.array(a)).permute(2, 0, 1).float() / 127.5 - 1
    assert torch.allclose(ds[0]["A"], expect_a, atol=1e-5)
    swapped = AlignedDataset(aligned_cfg(tmp_path / "facades", preprocess="none", no_flip=True, direction="BtoA"))
    assert torch.allclose(swapped[0]["B"], expect_a, atol=1e-5)
    assert ds.paired and len(ds) == 1


def test_aligned_same_random_crop_and_flip_on_a_and_b(tmp_path):
    half = noise(30, 30, 3)
    save(side_by_side(half, half), tmp_path / "d" / "train" / "x.png")
    ds = AlignedDataset(aligned_cfg(tmp_path / "d", load_size=30, crop_size=12))
    seen = set()
    for seed in range(12):
        torch.manual_seed(seed)
        item = ds[0]
        assert torch.equal(item["A"], item["B"]), "A and B must get the same crop and flip"
        seen.add(item["A"].sum().item())
    assert len(seen) > 3, "crops should vary between draws"


def test_aligned_test_split_is_deterministic_and_falls_back_to_val(tmp_path):
    save(side_by_side(noise(30, 30, 4), noise(30, 30, 5)), tmp_path / "maps" / "val" / "1.jpg")
    save(side_by_side(noise(30, 30, 4), noise(30, 30, 5)), tmp_path / "maps" / "train" / "1.jpg")
    ds = AlignedDataset(aligned_cfg(tmp_path / "maps"), "test")
    assert ds.folder == tmp_path / "maps" / "val"
    assert torch.equal(ds[0]["A"], ds[0]["A"])


def test_aligned_grayscale_odd_width_and_channels(tmp_path):
    img = noise(33, 17, 6, "L")  # odd width: the last column is dropped
    save(img, tmp_path / "g" / "train" / "odd.png")
    ds = AlignedDataset(aligned_cfg(tmp_path / "g", preprocess="none", input_nc=1, output_nc=3, no_flip=True))
    item = ds[0]
    assert item["A"].shape == (1, 16, 16) and item["B"].shape == (3, 16, 16)


def test_aligned_small_images_resize_or_error(tmp_path):
    save(side_by_side(noise(10, 10, 7), noise(10, 10, 8)), tmp_path / "s" / "train" / "small.png")
    ok = AlignedDataset(aligned_cfg(tmp_path / "s", preprocess="crop", crop_size=16))
    assert ok[0]["A"].shape == (3, 16, 16)
    strict = AlignedDataset(aligned_cfg(tmp_path / "s", preprocess="crop", crop_size=16, small_images="error"))
    with pytest.raises(ImageTooSmallError, match=r"small\.png.*10x10, smaller than crop_size 16"):
        strict[0]


def test_aligned_skips_truncated_and_ignores_non_images(tmp_path):
    root = tmp_path / "mixed"
    truncated_jpeg(root / "train" / "0_broken.jpg")
    save(side_by_side(noise(20, 20, 9), noise(20, 20, 10)), root / "train" / "1_good.png")
    (root / "train" / "notes.txt").write_text("not an image")
    ds = AlignedDataset(aligned_cfg(root))
    assert len(ds) == 2  # the .txt file is not listed
    with pytest.warns(DataWarning, match="0_broken.jpg") as record:
        item = ds[0]
    assert len(record) == 1
    assert item["A_path"].endswith("1_good.png")
    assert ds.skipped == [root / "train" / "0_broken.jpg"]
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # warned once, not again
        ds[0]


def test_skipped_files_are_counted_across_dataloader_workers(tmp_path):
    root = tmp_path / "w"
    truncated_jpeg(root / "train" / "0_broken.jpg")
    save(side_by_side(noise(20, 20, 9), noise(20, 20, 10)), root / "train" / "1_good.png")
    ds = AlignedDataset(aligned_cfg(root))
    loader = torch.utils.data.DataLoader(ds, batch_size=2, num_workers=1)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        batch = next(iter(loader))
    assert batch["A"].shape == (2, 3, 16, 16)
    assert ds.skipped == [root / "train" / "0_broken.jpg"]


def test_aligned_missing_or_empty_data_names_the_download_command(tmp_path):
    with pytest.raises(DataError, match=r"ganzoo data download pix2pix/facades --root"):
        AlignedDataset.check_source(aligned_cfg(tmp_path / "facades"))
    (tmp_path / "facades" / "train").mkdir(parents=True)
    with pytest.raises(DataError, match=r"split train: folder .* has no images"):
        AlignedDataset.check_source(aligned_cfg(tmp_path / "facades"))
    with pytest.raises(DataError, match="does not exist"):
        AlignedDataset.check_source(aligned_cfg(tmp_path / "mine"))
    with pytest.raises(DataError, match="unknown split"):
        AlignedDataset.check_source(aligned_cfg(tmp_path / "facades"), "dev")


# ---------------------------------------------------------------- paired folders


def test_paired_folders_match_by_name_across_extensions(tmp_path):
    base = noise(20, 20, 11)
    save(base, tmp_path / "p" / "trainA" / "0001.png")
    save(base, tmp_path / "p" / "trainB" / "0001.bmp")
    save(noise(20, 20, 12), tmp_path / "p" / "trainA" / "sub" / "0002.png")
    save(noise(20, 20, 13), tmp_path / "p" / "trainB" / "sub" / "0002.png")
    save(noise(20, 20, 14), tmp_path / "p" / "trainA" / "lonely.png")
    pairs, only_a, only_b = match_pairs(tmp_path / "p" / "trainA", tmp_path / "p" / "trainB")
    assert [(a.name, b.name) for a, b in pairs] == [("0001.png", "0001.bmp"), ("0002.png", "0002.png")]
    assert [p.name for p in only_a] == ["lonely.png"] and only_b == []

    cfg = PairedFoldersConfig(root=tmp_path / "p", load_size=20, crop_size=8)
    with pytest.warns(DataWarning, match="no partner"):
        ds = PairedFoldersDataset(cfg)
    assert len(ds) == 2 and ds.paired
    torch.manual_seed(0)
    item = ds[0]
    assert torch.equal(item["A"], item["B"])  # same content, same crop and flip
    with pytest.raises(DataError, match="strict_pairs"):
        PairedFoldersDataset(cfg.merged(strict_pairs=True))


def test_paired_folders_explicit_dirs_sizes_and_broken_pairs(tmp_path):
    save(noise(24, 16, 15), tmp_path / "labels" / "a.png")
    save(noise(48, 32, 16, "L"), tmp_path / "photos" / "a.jpg")  # other resolution, grayscale
    truncated_jpeg(tmp_path / "photos" / "b.jpg")
    save(noise(24, 16, 17), tmp_path / "labels" / "b.png")
    cfg = PairedFoldersConfig(root=tmp_path, dir_a="labels", dir_b=str(tmp_path / "photos"), preprocess="none",
                              output_nc=1)
    ds = PairedFoldersDataset(cfg)
    item = ds[0]
    assert item["A"].shape == (3, 16, 24) and item["B"].shape == (1, 16, 24)  # B resized to A's grid
    with pytest.warns(DataWarning, match=r"b\.jpg \(and its partner b\.png\)"):
        item = ds[1]
    assert item["A_path"].endswith("a.png")  # the broken pair is skipped as a whole
    assert ds.skipped == [tmp_path / "photos" / "b.jpg"]
    with pytest.raises(DataError, match=r"no test split configured \(dir_a and dir_b need \{split\}"):
        PairedFoldersDataset.check_source(cfg, "test")


def test_paired_folders_split_patterns(tmp_path):
    for split in ("train", "test"):  # the layout combine_A_and_B.py reads
        save(noise(16, 16, 1), tmp_path / "A" / split / "x.png")
        save(noise(16, 16, 2), tmp_path / "B" / split / "x.jpg")
    cfg = PairedFoldersConfig(root=tmp_path, dir_a="A/{split}", dir_b="B/{split}", load_size=16, crop_size=16)
    test = PairedFoldersDataset(cfg, "test")
    assert test.folders == (tmp_path / "A" / "test", tmp_path / "B" / "test") and len(test) == 1


def test_paired_folders_config_and_source_errors(tmp_path):
    with pytest.raises(ValueError, match="root"):
        PairedFoldersConfig()
    with pytest.raises(DataError, match=r"root .*nope does not exist \(expected trainA and trainB in it\)"):
        PairedFoldersDataset.check_source(PairedFoldersConfig(root=tmp_path / "nope"))
    save(noise(8, 8, 1), tmp_path / "x" / "trainA" / "one.png")
    save(noise(8, 8, 2), tmp_path / "x" / "trainB" / "two.png")
    with pytest.raises(DataError, match="no file of .* has a partner"):
        PairedFoldersDataset.check_source(PairedFoldersConfig(root=tmp_path / "x"))
    (tmp_path / "y" / "trainA").mkdir(parents=True)
    with pytest.raises(DataError, match=r"domain A of split train: folder .* has no images"):
        PairedFoldersDataset.check_source(PairedFoldersConfig(root=tmp_path / "y"))


# ---------------------------------------------------------------- two folders, unpaired folders


def test_two_folders_reads_arbitrary_folders(tmp_path):
    for i in range(3):
        save(noise(30 + i, 20, i), tmp_path / "cats" / f"{i}.jpg")
    save(noise(25, 25, 5, "RGBA"), tmp_path / "dogs" / "d.png")
    save(noise(25, 25, 6, "L"), tmp_path / "dogs" / "g.png")
    cfg = TwoFoldersConfig(dir_a=tmp_path / "cats", dir_b=tmp_path / "dogs", load_size=20, crop_size=16)
    ds = TwoFoldersDataset(cfg)
    assert len(ds) == 3 and not ds.paired
    item = ds[1]
    assert item["A"].shape == item["B"].shape == (3, 16, 16)
    with pytest.raises(DataError, match="test_dir_a"):
        TwoFoldersDataset(cfg, "test")
    (tmp_path / "empty").mkdir()
    with pytest.raises(DataError, match="domain B of split train: folder .*empty has no images"):
        TwoFoldersDataset.check_source(cfg.merged(dir_b=tmp_path / "empty"))


def test_unpaired_folders_small_images_and_skips(tmp_path):
    root = tmp_path / "horse2zebra"
    save(noise(12, 40, 1), root / "trainA" / "thin.png")
    truncated_jpeg(root / "trainB" / "0.jpg")
    save(noise(40, 40, 2, "L"), root / "trainB" / "1.png")
    cfg = UnpairedFolderConfig(root=root, preprocess="crop", crop_size=16, serial_batches=True)
    with pytest.warns(DataWarning):
        item = UnpairedFolderDataset(cfg)[0]
    assert item["A"].shape == item["B"].shape == (3, 16, 16)
    strict = UnpairedFolderDataset(cfg.merged(small_images="error"))
    with pytest.raises(ImageTooSmallError, match=r"thin\.png: image is 12x40"), warnings.catch_warnings():
        warnings.simplefilter("ignore")
        strict[0]
    with pytest.raises(DataError, match="ganzoo data download cyclegan/horse2zebra --root"):
        UnpairedFolderDataset.check_source(cfg.merged(root=tmp_path / "nowhere" / "horse2zebra"))


def test_paired_transform_center_crop_when_not_training():
    img = noise(40, 30, 3)
    t = PairedTransform("crop", 40, 16, train=False)
    a, b = t(img, img)
    a2, _ = t(img, img)
    assert torch.equal(a, a2) and torch.equal(a, b)


def test_paired_transform_scale_shortside_is_build_transforms():
    """The same semantics as the unpaired transform: the shorter side to load_size keeping the
    aspect ratio (48x26 -> 29x16), then one crop window for A and B."""
    a_img, b_img = noise(48, 26, 4), noise(48, 26, 5)
    test = PairedTransform("scale_shortside_and_crop", 16, 12, train=False)
    a, b = test(a_img, b_img)
    single = build_transform("scale_shortside_and_crop", 16, 12, train=False)
    assert torch.equal(a, single(a_img)) and torch.equal(b, single(b_img))
    a, b = PairedTransform("scale_shortside_and_crop", 16, 12, flip=False)(a_img, b_img)
    full_a, full_b = (to_tensor(ScaleShortSide(16)(img)) for img in (a_img, b_img))
    assert a.shape == (3, 12, 12) and full_a.shape == (3, 16, 29)
    windows = [(t, x) for t in range(5) for x in range(18) if torch.equal(a, full_a[:, t:t + 12, x:x + 12])]
    assert windows and any(torch.equal(b, full_b[:, t:t + 12, x:x + 12]) for t, x in windows)
    a, b = PairedTransform("scale_shortside", 16, 12)(a_img, b_img)
    assert a.shape == b.shape == (3, 16, 29)


def test_registered_and_resolvable(ganzoo_registry, tmp_path):
    """Each built-in dataset is registered as its class, and a recipe that names it by ``type``
    resolves to that class and builds it on its folder layout."""
    from ganzoo.data.procedural import ProceduralDataset
    from ganzoo.recipe import load_recipe
    from ganzoo.testing import TINY_RECIPE

    def folders(*dirs: str) -> None:
        for i, d in enumerate(dirs):
            save(noise(20, 20, i), tmp_path / d / "0001.png")

    cases = {
        "aligned": (AlignedDataset, lambda: save(side_by_side(noise(20, 20, 1), noise(20, 20, 2)),
                                                 tmp_path / "aligned" / "train" / "0001.png"),
                    "root = '{t}/aligned'"),
        "paired_folders": (PairedFoldersDataset, lambda: folders("pf/trainA", "pf/trainB"), "root = '{t}/pf'"),
        "two_folders": (TwoFoldersDataset, lambda: folders("cats", "dogs"),
                        "dir_a = '{t}/cats'\ndir_b = '{t}/dogs'"),
        "unpaired_folders": (UnpairedFolderDataset, lambda: folders("uf/trainA", "uf/trainB"), "root = '{t}/uf'"),
        "procedural": (ProceduralDataset, lambda: None, "train_size = 2"),
    }
    head, tail = TINY_RECIPE.split("[data]")[0], "[generator]" + TINY_RECIPE.split("[generator]")[1]
    for name, (cls, make, options) in cases.items():
        assert ganzoo_registry.get("dataset", name).cls is cls, name
        make()
        sizes = "image_size = 16" if name == "procedural" else "load_size = 20\ncrop_size = 16"
        recipe = tmp_path / f"{name}.toml"
        recipe.write_text(f"{head}[data]\ntype = \"{name}\"\n{options.format(t=tmp_path)}\n{sizes}\n\n{tail}")
        dataset = load_recipe(recipe).build_dataset("train")
        assert type(dataset) is cls, name
        item = dataset[0]
        assert item["A"].shape == item["B"].shape == (3, 16, 16), name


# ---------------------------------------------------------------- ganzoo data check


def test_data_check_reports_counts_sizes_modes_and_unreadable(tmp_path, ganzoo_cli):
    root = tmp_path / "set"
    save(noise(30, 20, 1), root / "trainA" / "a.png")
    save(noise(31, 21, 2, "L"), root / "trainA" / "b.png")
    truncated_jpeg(root / "trainA" / "c.jpg")
    (root / "trainA" / "readme.txt").write_text("x")
    save(side_by_side(noise(10, 10, 3), noise(10, 10, 4)), root / "aligned" / "x.png")
    (root / "empty").mkdir()

    from ganzoo.data.check import check_images

    report = check_images(root)
    by_name = {f.path.name: f for f in report.folders}
    train_a = by_name["trainA"]
    assert (train_a.images, train_a.readable, train_a.other_files) == (3, 2, 1)
    assert train_a.min_size == (30, 20) and train_a.max_size == (31, 21)
    assert dict(train_a.modes) == {"RGB": 1, "L": 1}
    assert [p.name for p, _ in train_a.unreadable] == ["c.jpg"]
    assert by_name["aligned"].looks_aligned
    assert report.empty_folders == [root / "empty"]
    quick = check_images(root, quick=True)
    assert not quick.unreadable  # headers of a truncated JPEG read fine

    result = ganzoo_cli("data", "check", root)
    assert result.exit_code == 1
    assert "c.jpg" in result.output and "unreadable" in result.output and "empty" in result.output
    result = ganzoo_cli("data", "check", root / "aligned", "--json")
    assert result.exit_code == 0 and '"looks_aligned": true' in result.output
    result = ganzoo_cli("data", "check", tmp_path / "missing")
    assert result.exit_code == 2 and "does not exist" in result.output
