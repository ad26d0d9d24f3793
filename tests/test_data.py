"""The built-in datasets: the procedural shapes and unpaired image folders (tiny, CPU, fast)."""

from __future__ import annotations

import io
import warnings
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image
from pydantic import ValidationError

from ganzoo.data.folders import UnpairedFolderConfig, UnpairedFolderDataset
from ganzoo.data.images import DataWarning, ImageList, list_images, open_image
from ganzoo.data.procedural import (
    BACKGROUND_A,
    BACKGROUND_B,
    OUTLINE_B,
    ProceduralConfig,
    ProceduralDataset,
    hsv_to_rgb,
)
from ganzoo.data.transforms import ScaleShortSide, ScaleWidth, build_transform, to_tensor
from ganzoo.errors import DataError

# --------------------------------------------------------------------------- procedural


def procedural(split: str = "train", **kw) -> ProceduralDataset:
    kw = {"train_size": 20, "test_size": 8, "image_size": 24, **kw}
    return ProceduralDataset(ProceduralConfig(**kw), split)


def shape_mask(image: torch.Tensor, background: tuple[float, ...]) -> torch.Tensor:
    """Pixels that are not the background colour: where the shapes are."""
    bg = torch.tensor(background).view(3, 1, 1) * 2 - 1
    return (image - bg).abs().amax(dim=0) > 1e-4


@pytest.mark.parametrize("split", ["train", "test"])
def test_procedural_items_are_images_in_range(split):
    ds = procedural(split)
    assert len(ds) == (20 if split == "train" else 8)
    item = ds[3]
    assert set(item) == {"A", "B"}
    for x in item.values():
        assert x.shape == (3, 24, 24) and x.dtype == torch.float32
        assert x.min() >= -1 and x.max() <= 1


def test_procedural_is_deterministic_and_varied():
    a, b = procedural(), procedural()
    for i in (0, 7, 19):
        assert torch.equal(a[i]["A"], b[i]["A"]) and torch.equal(a[i]["B"], b[i]["B"])
    assert not torch.equal(a[0]["A"], a[1]["A"])
    assert not torch.equal(a[0]["A"], procedural(seed=1)[0]["A"])
    assert not torch.equal(a[0]["A"], procedural("test")[0]["A"])  # splits hold different scenes
    assert torch.equal(a[-1]["A"], a[19]["A"])
    with pytest.raises(IndexError):
        a[20]


@pytest.mark.parametrize("outline", [0, 1])
def test_procedural_test_split_is_paired(outline):
    ds = procedural("test", outline=outline)
    assert ds.paired
    for i in range(len(ds)):
        item = ds[i]
        assert torch.equal(shape_mask(item["A"], BACKGROUND_A), shape_mask(item["B"], BACKGROUND_B))
        assert shape_mask(item["A"], BACKGROUND_A).any()


def test_procedural_train_split_is_unpaired():
    ds = procedural("train")
    assert not ds.paired
    partners = [ds.partner(i) for i in range(len(ds))]
    assert sorted(partners) == list(range(len(ds)))  # every scene appears once as B
    assert all(p != i for i, p in enumerate(partners))
    item = ds[0]
    assert not torch.equal(shape_mask(item["A"], BACKGROUND_A), shape_mask(item["B"], BACKGROUND_B))
    # B of item 0 is the B view of its partner scene; the ground truth keeps A's own B view.
    assert torch.equal(item["B"], ds.render(partners[0], "B"))
    truth = ds.ground_truth(0)
    assert torch.equal(truth["A"], item["A"])
    assert torch.equal(shape_mask(truth["B"], BACKGROUND_B), shape_mask(item["A"], BACKGROUND_A))


def test_procedural_styles_differ():
    ds = procedural("test", test_size=16)
    diff = torch.stack([(ds[i]["A"] - ds[i]["B"]).abs().mean() for i in range(len(ds))])
    assert diff.min() > 0.5  # on the [-1, 1] scale: far from an identity mapping


def test_procedural_outlines_trace_shape_borders():
    plain, outlined = procedural("test", outline=0)[0]["B"], procedural("test", outline=1)[0]["B"]
    changed = (plain != outlined).any(dim=0)
    assert changed.any()
    white = torch.tensor(OUTLINE_B).view(3, 1) * 2 - 1
    assert torch.allclose(outlined[:, changed], white.expand(3, int(changed.sum())))
    # Every outline pixel touches a pixel of another colour in the plain rendering.
    padded = torch.nn.functional.pad(plain, (1, 1, 1, 1), mode="replicate")
    h, w = plain.shape[1:]
    neighbours = [padded[:, 1 + dy : 1 + dy + h, 1 + dx : 1 + dx + w] for dy, dx in ((0, 1), (0, -1), (1, 0), (-1, 0))]
    border = torch.stack([(n != plain).any(dim=0) for n in neighbours]).any(dim=0)
    assert border[changed].all()


def test_procedural_domains_use_different_colours():
    # Unpaired training can only find the hue rotation if B's colours are not A's colours.
    ds = procedural("test", test_size=16, outline=0)
    colours = {"A": [], "B": []}
    for i in range(len(ds)):
        item = ds[i]
        mask = shape_mask(item["A"], BACKGROUND_A)
        for d in "AB":
            colours[d].append(item[d][:, mask].T)
    a, b = torch.cat(colours["A"]).unique(dim=0), torch.cat(colours["B"]).unique(dim=0)
    assert torch.cdist(a, b).min() > 0.1


def test_procedural_style_is_only_colour_outline_and_background():
    # Without hue shift and outline, B's shapes have exactly A's colours: the scene is shared.
    ds = procedural("test", hue_shift=0.0, outline=0)
    item = ds[0]
    mask = shape_mask(item["A"], BACKGROUND_A)
    assert torch.equal(item["A"][:, mask], item["B"][:, mask])


def test_hsv_to_rgb_primaries():
    h = np.array([0.0, 1 / 3, 2 / 3, 1.0])
    rgb = hsv_to_rgb(h, np.ones(4), np.ones(4))
    np.testing.assert_allclose(rgb, [[1, 0, 0], [0, 1, 0], [0, 0, 1], [1, 0, 0]], atol=1e-6)


def test_procedural_cache_returns_copies():
    ds = procedural(cache=True)
    first = ds[2]
    first["A"].zero_()
    assert not torch.equal(ds[2]["A"], first["A"])
    assert torch.equal(ds[2]["A"], procedural()[2]["A"])


def test_procedural_config_and_split_errors():
    with pytest.raises(ValidationError, match="min_shapes"):
        ProceduralConfig(min_shapes=4, max_shapes=2)
    with pytest.raises(ValidationError):
        ProceduralConfig(shapes=["hexagon"])
    with pytest.raises(ValidationError, match="hue_range"):
        ProceduralConfig(hue_range=(90, 10))
    with pytest.raises(DataError, match="unknown split"):
        procedural("val")
    ProceduralDataset.check_source(ProceduralConfig())  # nothing on disk to check


def test_procedural_single_shape_kind():
    ds = procedural("test", shapes=["rect"], min_shapes=1, max_shapes=1)
    assert (ds.scene(0).kind == 1).all()


def test_builtin_datasets_register():
    from ganzoo.data import builtin
    from ganzoo.registry import PluginInfo, Registrar, Registry

    registry = Registry()
    builtin.register_components(Registrar(registry, PluginInfo("builtin")))
    assert registry.get("dataset", "procedural").cls is ProceduralDataset
    spec = registry.get("dataset", "unpaired_folders")
    assert spec.cls is UnpairedFolderDataset
    assert spec.config.model_fields["root"].is_required()
    assert all(f.description for f in spec.config.model_fields.values())
    assert all(f.description for f in ProceduralConfig.model_fields.values())


# --------------------------------------------------------------------------- image folders


def write_image(path: Path, size=(20, 14), mode="RGB", fmt=None, seed=0) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(seed)
    channels = {"RGB": 3, "L": 1, "RGBA": 4}[mode]
    pixels = rng.integers(0, 256, (size[1], size[0], channels), dtype=np.uint8)
    Image.fromarray(pixels.squeeze(-1) if channels == 1 else pixels, mode).save(path, format=fmt)
    return path


def truncated_jpeg(path: Path) -> Path:
    buf = io.BytesIO()
    Image.fromarray(np.full((32, 32, 3), 128, np.uint8)).save(buf, format="JPEG")
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(buf.getvalue()[: len(buf.getvalue()) // 2])
    return path


@pytest.fixture
def root(tmp_path) -> Path:
    """horse2zebra-like layout; trainA has a subfolder, odd sizes and a grayscale image."""
    data = tmp_path / "horse2zebra"
    write_image(data / "trainA" / "a0.png", (20, 14))
    write_image(data / "trainA" / "a1.jpg", (17, 23), seed=1)
    write_image(data / "trainA" / "a2.png", (21, 21), mode="L", seed=2)
    write_image(data / "trainA" / "sub" / "a3.JPG", (30, 12), fmt="JPEG", seed=3)
    (data / "trainA" / "notes.txt").write_text("not an image")
    for i in range(2):
        write_image(data / "trainB" / f"b{i}.png", (18, 18), seed=10 + i)
    for d in "AB":
        write_image(data / f"test{d}" / "t0.png", (19, 25), seed=20)
        write_image(data / f"test{d}" / "t1.bmp", (22, 16), fmt="BMP", seed=21)
    return data


def folders(root: Path, split: str = "train", **kw) -> UnpairedFolderDataset:
    kw = {"load_size": 18, "crop_size": 16, **kw}
    return UnpairedFolderDataset(UnpairedFolderConfig(root=root, **kw), split)


def test_list_images_is_recursive_sorted_and_case_insensitive(root):
    names = [p.relative_to(root / "trainA").as_posix() for p in list_images(root / "trainA")]
    assert names == ["a0.png", "a1.jpg", "a2.png", "sub/a3.JPG"]
    assert len(list_images(root / "trainA", max_items=2)) == 2
    assert list_images(root / "missing") == []


def test_folder_items(root):
    ds = folders(root)
    assert len(ds) == 4 and not ds.paired
    for i in range(len(ds)):
        item = ds[i]
        for key in "AB":
            x = item[key]
            assert x.shape == (3, 16, 16) and x.dtype == torch.float32
            assert x.min() >= -1 and x.max() <= 1
        assert Path(item["A_path"]).name == list_images(root / "trainA")[i].name


def test_folder_grayscale_channels(root):
    item = folders(root, input_nc=1)[1]
    assert item["A"].shape == (1, 16, 16) and item["B"].shape == (3, 16, 16)
    assert folders(root, output_nc=1)[0]["B"].shape == (1, 16, 16)


@pytest.mark.parametrize(
    ("preprocess", "expected"),
    [
        ("resize_and_crop", (16, 16)),
        ("crop", (16, 16)),  # 17x23 and smaller images are upscaled so the crop fits
        ("scale_width_and_crop", (16, 16)),
        ("scale_width", (24, 18)),  # the 17x23 image scaled to width 18 (height, width here)
        ("scale_shortside_and_crop", (16, 16)),
        ("scale_shortside", (24, 18)),  # 17x23: the shorter side (the width) to 18, 23 x 18/17 = 24.4 -> 24
        ("none", (24, 16)),  # 17x23 rounded to multiples of 4
    ],
)
def test_folder_preprocess_modes(root, preprocess, expected):
    ds = folders(root, preprocess=preprocess, serial_batches=True)
    assert tuple(ds[1]["A"].shape[1:]) == expected


def test_folder_test_split_is_deterministic(root):
    ds = folders(root, "test")
    first, second = ds[1], ds[1]
    assert torch.equal(first["A"], second["A"]) and torch.equal(first["B"], second["B"])
    assert Path(first["B_path"]).name == "t1.bmp"  # B in order on the test split


def test_folder_serial_and_random_b(root):
    ds = folders(root, serial_batches=True)
    assert [Path(ds[i]["B_path"]).name for i in range(4)] == ["b0.png", "b1.png", "b0.png", "b1.png"]
    torch.manual_seed(0)
    ds = folders(root)
    assert {Path(ds[0]["B_path"]).name for _ in range(20)} == {"b0.png", "b1.png"}


def test_folder_batches_collate(root):
    loader = torch.utils.data.DataLoader(folders(root), batch_size=2)
    batch = next(iter(loader))
    assert batch["A"].shape == (2, 3, 16, 16) and len(batch["A_path"]) == 2


def test_train_crops_vary_test_crops_do_not():
    img = Image.fromarray(np.random.default_rng(0).integers(0, 256, (40, 40, 3), dtype=np.uint8))
    train = build_transform("crop", 40, 16, train=True)
    test = build_transform("crop", 40, 16, train=False)
    torch.manual_seed(0)
    assert len({train(img).sum().item() for _ in range(5)}) > 1
    assert len({test(img).sum().item() for _ in range(5)}) == 1
    with pytest.raises(ValueError, match="unknown preprocess"):
        build_transform("zoom", 40, 16)


def test_scale_shortside_keeps_the_aspect_ratio_then_crops():
    """UNIT's new_size: the shorter side to load_size, the longer one truncated as torchvision's
    Resize(int), bilinear; scale_width_and_crop would squash a wide GTA frame to a square."""
    assert ScaleShortSide(256)(Image.new("RGB", (1914, 1052))).size == (465, 256)
    assert ScaleShortSide(256)(Image.new("RGB", (1052, 1914))).size == (256, 465)
    assert ScaleWidth(256, 256)(Image.new("RGB", (1914, 1052))).size == (256, 256)
    img = Image.fromarray(np.random.default_rng(0).integers(0, 256, (26, 48, 3), dtype=np.uint8))  # 48x26
    resized = to_tensor(img.resize((29, 16), Image.Resampling.BILINEAR))  # 48 x 16/26 = 29.5 -> 29
    assert ScaleShortSide(16)(img).size == (29, 16)
    # Training: a random 12x12 window of the 29x16 image (not of a squashed one), no flip here.
    train = build_transform("scale_shortside_and_crop", 16, 12, train=True, flip=False)
    torch.manual_seed(0)
    for _ in range(5):
        crop = train(img)
        assert crop.shape == (3, 12, 12)
        assert any(torch.equal(crop, resized[:, t:t + 12, x:x + 12]) for t in range(5) for x in range(18))
    # Test: load_size = crop_size, still keeping the aspect ratio (22x12), centre crop.
    test = build_transform("scale_shortside_and_crop", 16, 12, train=False)
    torch.testing.assert_close(test(img), to_tensor(img.resize((22, 12), Image.Resampling.BILINEAR))[:, :, 5:17])
    # Without the crop the whole image comes back, at the scaled size.
    assert build_transform("scale_shortside", 16, 12, train=True)(img).shape == (3, 16, 29)
    assert build_transform("scale_shortside", 16, 12, train=False)(img).shape == (3, 12, 22)


def test_bad_images_are_skipped_with_one_warning(root):
    bad_jpeg = truncated_jpeg(root / "trainA" / "a1.jpg")  # replaces a good one
    fake = root / "trainA" / "a2.png"
    fake.write_text("this is not a png")
    ds = folders(root, serial_batches=True)
    with pytest.warns(DataWarning) as record:
        items = [ds[i] for i in range(len(ds))] + [ds[i] for i in range(len(ds))]
    messages = [str(w.message) for w in record]
    assert sum(str(bad_jpeg) in m for m in messages) == 1
    assert sum(str(fake) in m for m in messages) == 1
    assert len(messages) == 2
    # The next readable image stands in for a broken one.
    assert [Path(it["A_path"]).name for it in items[:4]] == ["a0.png", "a3.JPG", "a3.JPG", "a3.JPG"]


def test_all_images_unreadable_is_a_data_error(tmp_path):
    files = [truncated_jpeg(tmp_path / "x.jpg"), tmp_path / "y.png"]
    files[1].write_bytes(b"\x89PNG garbage")
    images = ImageList(files, name="trainA")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DataWarning)
        with pytest.raises(DataError, match="none of the 2 image files can be read"):
            images.load(0)


def test_open_image_modes(tmp_path):
    rgba = write_image(tmp_path / "rgba.png", mode="RGBA")
    assert open_image(rgba).mode == "RGB"
    assert open_image(rgba, "L").mode == "L"
    gray16 = tmp_path / "g16.png"
    Image.fromarray(np.full((4, 4), 65535, np.uint16)).save(gray16)
    assert np.asarray(open_image(gray16, "L")).max() == 255


@pytest.mark.parametrize(("array", "expected"), [
    # float in [0, 1]: scaled by 255 (it used to come out black)
    (np.array([[0.0, 0.5, 1.0]], np.float32), [0, 128, 255]),
    # float outside [0, 1]: its actual min..max
    (np.array([[-2.0, 3.0, 8.0]], np.float32), [0, 128, 255]),
    # 32-bit integers: 0..the actual max (it used to come out almost white)
    (np.array([[0, 50_000, 100_000]], np.int32), [0, 128, 255]),
    (np.array([[-100, 0, 100]], np.int32), [0, 128, 255]),  # negative: min..max
    (np.array([[0, 0, 0]], np.int32), [0, 0, 0]),
])
def test_float_and_32_bit_tiffs_are_scaled_by_their_range(tmp_path, array, expected):
    from ganzoo.data.images import load_image

    path = tmp_path / "x.tif"
    Image.fromarray(array).save(path)
    assert Image.open(path).mode in ("F", "I")
    assert np.asarray(open_image(path, "L"))[0].tolist() == expected
    assert np.asarray(open_image(path, "RGB"))[0, :, 1].tolist() == expected
    t = load_image(path)  # inference reads the same way
    assert t.shape == (3, 1, 3) and torch.allclose(t[0, 0], torch.tensor(expected) / 127.5 - 1)


def test_float_tiff_with_nan_is_refused_by_name(tmp_path):
    path = tmp_path / "nan.tif"
    Image.fromarray(np.array([[0.0, np.nan]], np.float32)).save(path)
    with pytest.raises(ValueError, match="NaN or infinite"):
        open_image(path)


@pytest.fixture
def locked(tmp_path, monkeypatch):
    """Folders that cannot be listed: tests run as root, where chmod 000 does not stop reading,
    so listing them (os.scandir, which os.walk uses) is made to fail as it would for a user."""
    import os

    denied: set[str] = set()
    real = os.scandir

    def scandir(path="."):
        if os.fspath(path) in denied:
            raise PermissionError(13, "Permission denied", os.fspath(path))
        return real(path)

    monkeypatch.setattr(os, "scandir", scandir)
    return lambda folder: denied.add(os.fspath(folder)) or folder


def test_unreadable_folder_is_not_reported_as_empty(root, locked, ganzoo_cli, tmp_path):
    from ganzoo.data.check import check_images
    from ganzoo.data.images import folder_problem

    train_a = locked(root / "trainA")
    problem = folder_problem(train_a, "domain A of split train")
    assert problem is not None and "cannot be read" in problem and "Permission denied" in problem
    assert "no images" not in problem and str(train_a) in problem
    with pytest.raises(DataError, match="cannot be read"):
        list_images(train_a)
    with pytest.raises(DataError, match=r"trainA.*cannot be read"):
        UnpairedFolderDataset.check_source(UnpairedFolderConfig(root=root), "train")
    with pytest.raises(DataError, match="cannot be read"):
        check_images(train_a)
    result = ganzoo_cli("translate", tmp_path / "run", train_a, "--out", tmp_path / "out")
    assert result.exit_code == 2 and "cannot be read" in result.output and "no images" not in result.output


def test_unreadable_subfolder_is_named(root, locked):
    from ganzoo.data.check import check_images

    sub = locked(root / "trainA" / "sub")
    with pytest.warns(DataWarning, match=r"trainA/sub .*cannot be read"):
        files = list_images(root / "trainA")
    assert files and all(sub not in f.parents for f in files)
    report = check_images(root)
    assert not report.ok and any(path == sub and "cannot be read" in why for path, why in report.unreadable)


def test_check_source_missing_root(tmp_path):
    config = UnpairedFolderConfig(root=tmp_path / "horse2zebra")
    with pytest.raises(DataError) as err:
        UnpairedFolderDataset.check_source(config, "train")
    message = str(err.value)
    assert str(tmp_path / "horse2zebra") in message
    assert "ganzoo data download" in message and "horse2zebra" in message


def test_check_source_missing_and_empty_folders(root):
    (root / "testB" / "t0.png").unlink()
    (root / "testB" / "t1.bmp").unlink()
    (root / "testA").rename(root / "elsewhere")
    with pytest.raises(DataError) as err:
        UnpairedFolderDataset.check_source(UnpairedFolderConfig(root=root), "test")
    message = str(err.value)
    assert f"{root / 'testA'} does not exist" in message and "domain A of split test" in message
    assert f"{root / 'testB'} has no images" in message and "domain B of split test" in message
    assert "ganzoo data download" in message and "horse2zebra --root" in message
    with pytest.raises(DataError):  # the constructor checks too
        folders(root, "test")
    UnpairedFolderDataset.check_source(UnpairedFolderConfig(root=root), "train")
    with pytest.raises(DataError, match="unknown split"):
        UnpairedFolderDataset.check_source(UnpairedFolderConfig(root=root), "val")


def test_image_sizes_have_sane_limits(root):
    """A side of 100000 used to pass validation and die later with a MemoryError."""
    for field in ("load_size", "crop_size"):
        with pytest.raises(ValidationError, match=f"{field} 100000 is more than 8192 px"):
            UnpairedFolderConfig(root=root, preprocess="crop", **{field: 100_000})
    UnpairedFolderConfig(root=root, load_size=8192, crop_size=8192)
    with pytest.raises(ValidationError, match="image_size"):
        ProceduralConfig(image_size=100_000)


def test_folder_config_validation(root):
    with pytest.raises(ValidationError, match="root"):
        UnpairedFolderConfig()
    with pytest.raises(ValidationError, match="crop_size 300 is larger than load_size 286"):
        UnpairedFolderConfig(root=root, crop_size=300)
    UnpairedFolderConfig(root=root, crop_size=300, preprocess="crop")
    with pytest.raises(ValidationError, match="crop_size 300 is larger than load_size 256"):
        UnpairedFolderConfig(root=root, load_size=256, crop_size=300, preprocess="scale_shortside_and_crop")
    UnpairedFolderConfig(root=root, load_size=256, crop_size=300, preprocess="scale_shortside")
    with pytest.raises(ValidationError):
        UnpairedFolderConfig(root=root, input_nc=2)
    with pytest.raises(ValidationError):
        UnpairedFolderConfig(root=root, preprocess="zoom")


def test_procedural_train_split_can_be_paired_for_methods_that_train_on_pairs():
    from ganzoo.data.procedural import ProceduralConfig, ProceduralDataset

    unpaired = ProceduralDataset(ProceduralConfig(image_size=16, train_size=4), "train")
    paired = ProceduralDataset(ProceduralConfig(image_size=16, train_size=4, paired_train=True), "train")
    assert not unpaired.paired and paired.paired
    truth = paired.ground_truth(1)
    assert torch.equal(paired[1]["A"], truth["A"]) and torch.equal(paired[1]["B"], truth["B"])
    assert not torch.equal(unpaired[1]["B"], truth["B"])  # unpaired: B shows another scene
