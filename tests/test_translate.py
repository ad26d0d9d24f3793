"""``ganzoo translate`` and the inference helpers: any input size in, the same size out."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from PIL import Image

from ganzoo.data.images import quantize
from ganzoo.errors import GanzooError
from ganzoo.inference import (
    Job,
    Translator,
    batch_jobs,
    collect_jobs,
    crop_padding,
    pad_to_multiple,
    stride_of,
)


@pytest.fixture(scope="module")
def run_dir(tiny_run):
    """A CycleGAN run of 2 iterations on 16 px built-in data (trained weights, nothing learned)."""
    return tiny_run


def noise_image(path, w, h, mode="RGB", seed=0):
    rng = np.random.default_rng(seed)
    shape = (h, w) if mode == "L" else (h, w, 3)
    path.parent.mkdir(parents=True, exist_ok=True)
    Image.fromarray(rng.integers(0, 256, shape, dtype=np.uint8), mode).save(path)
    return path


@pytest.mark.parametrize("size", [(16, 16), (17, 23), (5, 3), (1, 2), (31, 4)])
def test_pad_and_crop_round_trip(size):
    x = torch.randn(2, 3, *size)
    padded, pads = pad_to_multiple(x, 8)
    assert padded.shape[-2] % 8 == 0 and padded.shape[-1] % 8 == 0
    assert torch.equal(crop_padding(padded, pads), x)
    assert abs(pads[0] - pads[1]) <= 1 and abs(pads[2] - pads[3]) <= 1  # centred


def test_padding_reflects():
    x = torch.arange(6.0).expand(1, 1, 4, 6)
    padded, _ = pad_to_multiple(x, 4)
    assert padded[0, 0, 0].tolist() == [1, 0, 1, 2, 3, 4, 5, 4]
    tall, _ = pad_to_multiple(torch.zeros(1, 1, 1, 4), 4, min_size=8)  # too thin to reflect: replicates
    assert tall.shape[-2:] == (8, 8)


def test_stride_is_the_lcm_of_the_generators():
    class G(torch.nn.Module):
        def __init__(self, stride):
            super().__init__()
            self.stride = stride

    assert stride_of({"a": G(4), "b": G(6)}) == 12
    assert stride_of(torch.nn.Identity()) == 1


def test_translator_keeps_odd_sizes_and_matches_the_network_on_aligned_ones(run_dir):
    from ganzoo.engine.loading import load_trained

    _, recipe, _ = load_trained(run_dir)
    translator = Translator.from_method(recipe, "a2b")
    assert translator.stride == 4
    for h, w in [(17, 23), (5, 3), (2, 1), (16, 20)]:
        x = torch.rand(2, 3, h, w) * 2 - 1
        y = translator(x)
        assert y.shape == x.shape and y.dtype == torch.float32 and y.abs().max() <= 1
    x = torch.rand(1, 3, 16, 20) * 2 - 1
    with torch.no_grad():
        torch.testing.assert_close(translator(x), recipe.G_A(x).clamp(-1, 1))
        torch.testing.assert_close(Translator.from_method(recipe, "b2a")(x), recipe.G_B(x).clamp(-1, 1))


def test_jobs_mirror_inputs_and_batch_by_size(tmp_path):
    noise_image(tmp_path / "in" / "a.jpg", 10, 7)
    noise_image(tmp_path / "in" / "sub" / "b.png", 10, 7)
    noise_image(tmp_path / "in" / "c.png", 9, 9)
    noise_image(tmp_path / "single.bmp", 4, 4)
    (tmp_path / "in" / "notes.txt").write_text("not an image")
    jobs = collect_jobs([tmp_path / "in", tmp_path / "single.bmp"], tmp_path / "out")
    targets = sorted(j.target.relative_to(tmp_path / "out").as_posix() for j in jobs)
    assert targets == ["a.png", "c.png", "single.png", "sub/b.png"]
    batches = batch_jobs(jobs, 4)
    assert sorted(len(b) for b in batches) == [1, 1, 2]
    assert all(len({j.size for j in b}) == 1 for b in batches)
    assert [len(b) for b in batch_jobs([Job(tmp_path, tmp_path, (1, 1))] * 5, 2)] == [2, 2, 1]
    same = collect_jobs([tmp_path / "in"], tmp_path / "out", "same")
    assert sorted(j.target.suffix for j in same) == [".jpg", ".png", ".png"]
    with pytest.raises(GanzooError, match="would both be written"):
        collect_jobs([tmp_path / "in", tmp_path / "in" / "c.png"], tmp_path / "out")
    with pytest.raises(GanzooError, match="no such file"):
        collect_jobs([tmp_path / "absent"], tmp_path / "out")


def test_cli_translate_folder_of_odd_sizes(run_dir, tmp_path, ganzoo_cli):
    inputs = tmp_path / "photos"
    sizes = {"a.png": (17, 23), "b.png": (17, 23), "c.jpg": (40, 30), "tiny.png": (5, 3), "deep/g.png": (9, 11)}
    for i, (name, (w, h)) in enumerate(sizes.items()):
        noise_image(inputs / name, w, h, mode="L" if name.startswith("deep") else "RGB", seed=i)
    result = ganzoo_cli("translate", run_dir, inputs, "--out", tmp_path / "out", "--direction", "b2a",
                        "--batch-size", "2", "--no-progress")
    assert result.exit_code == 0, result.output
    assert "translated 5 images" in result.output
    for name, size in sizes.items():
        out = Image.open((tmp_path / "out" / name).with_suffix(".png"))
        assert out.size == size and out.mode == "RGB"


def test_cli_translate_output_matches_the_model(run_dir, tmp_path, ganzoo_cli):
    """What is written is the recipe's translation of the decoded input, rounded to 8 bits."""
    from ganzoo.data.images import load_image
    from ganzoo.engine.loading import load_trained

    src = noise_image(tmp_path / "x.png", 16, 12)
    result = ganzoo_cli("translate", run_dir, src, "--out", tmp_path / "out", "--no-progress")
    assert result.exit_code == 0, result.output
    written = load_image(tmp_path / "out" / "x.png")
    _, recipe, _ = load_trained(run_dir)
    with torch.no_grad():
        expected = quantize(recipe.translate(load_image(src)[None], "a2b").clamp(-1, 1))[0]
    assert (written - expected).abs().max() <= 1 / 127.5 + 1e-6  # at most one 8-bit level (rounding)


def test_cli_translate_errors_are_messages(run_dir, tmp_path, ganzoo_cli):
    result = ganzoo_cli("translate", run_dir, tmp_path / "absent.png", "--out", tmp_path / "out")
    assert result.exit_code == 2 and "no such file" in result.output
    result = ganzoo_cli("translate", tmp_path, noise_image(tmp_path / "x.png", 4, 4), "--out", tmp_path / "o")
    assert result.exit_code == 2 and "no checkpoint found" in result.output
    result = ganzoo_cli("translate", run_dir, tmp_path / "x.png", "--out", tmp_path / "o", "--precision", "fp8")
    assert result.exit_code == 2 and "--precision" in result.output


def test_translate_defaults_to_fp32(ganzoo_cli):
    """Lower precisions move outputs by a few levels; they are a choice, not the default."""
    import inspect

    from ganzoo.cli.translate import translate as command
    from ganzoo.inference import Translator

    assert inspect.signature(command).parameters["precision"].default == "fp32"
    assert inspect.signature(Translator).parameters["precision"].default == "fp32"
    translator = Translator(lambda x: x, stride=1, device=torch.device("cpu"))
    assert translator.dtype is None


# --------------------------------------------------------------------------- hostile and careless inputs


def snapshot(folder):
    return {p.relative_to(folder).as_posix(): p.read_bytes() for p in sorted(folder.rglob("*")) if p.is_file()}


def test_out_that_would_overwrite_an_input_is_refused(tmp_path):
    photos = tmp_path / "photos"
    noise_image(photos / "a.png", 8, 8)
    noise_image(photos / "b.jpg", 8, 8)
    with pytest.raises(GanzooError, match=r"photos/a.png.* would overwrite the input .*photos/a.png"):
        collect_jobs([photos], photos)  # --out equal to the input folder
    noise_image(photos / "out" / "a.png", 8, 8, seed=1)  # an earlier run's output, now an input too
    with pytest.raises(GanzooError, match=r"would overwrite the input .*photos/out/a.png"):
        collect_jobs([photos], photos / "out")  # --out inside the input folder
    with pytest.raises(GanzooError, match="would overwrite the input"):
        collect_jobs([photos / "a.png"], photos / "out" / "..")  # a file, --out its folder by another name
    (tmp_path / "linked").mkdir()
    (tmp_path / "linked" / "a.png").symlink_to(photos / "a.png")
    with pytest.raises(GanzooError, match="would overwrite the input"):
        collect_jobs([photos / "a.png"], tmp_path / "linked")  # writing would follow the link
    assert len(collect_jobs([photos / "b.jpg"], photos)) == 1  # b.png next to b.jpg overwrites nothing


def test_cli_translate_never_overwrites_its_inputs(run_dir, tmp_path, ganzoo_cli):
    photos = tmp_path / "photos"
    for i, name in enumerate(["a.png", "b.png", "sub/a.png", "sub/sub/a.png"]):
        noise_image(photos / name, 8, 8, seed=i)
    before = snapshot(photos)
    # --out equal to, inside, and containing the input folder
    for source, out in ((photos, photos), (photos, photos / "sub"), (photos / "sub", photos)):
        result = ganzoo_cli("translate", run_dir, source, "--out", out, "--no-progress")
        assert result.exit_code == 2 and "would overwrite the input" in result.output, result.output
        assert result.output.count("error:") == 1 and snapshot(photos) == before
    result = ganzoo_cli("translate", run_dir, photos, "--out", tmp_path, "--no-progress")  # photos/a -> tmp/a
    assert result.exit_code == 0, result.output
    assert snapshot(photos) == before


def test_cli_translates_images_of_4_px_and_less(run_dir, tmp_path, ganzoo_cli):
    """Sides of 4 px or less used to raise inside the network and abort after 3 of 6 files."""
    sizes = {"a.png": (8, 8), "b.png": (16, 16), "c.png": (20, 12), "d.png": (4, 4), "e.png": (1, 1),
             "f.png": (3, 2), "g.png": (4, 1), "h.png": (2, 9)}
    for i, (name, (w, h)) in enumerate(sizes.items()):
        noise_image(tmp_path / "in" / name, w, h, seed=i)
    result = ganzoo_cli("translate", run_dir, tmp_path / "in", "--out", tmp_path / "out", "--no-progress")
    assert result.exit_code == 0, result.output
    for name, size in sizes.items():
        assert Image.open(tmp_path / "out" / name).size == size


@pytest.mark.parametrize("oom", [
    lambda: torch.cuda.OutOfMemoryError("CUDA out of memory. Tried to allocate 20.00 GiB"),
    lambda: RuntimeError("[enforce fail at alloc_cpu.cpp:117] DefaultCPUAllocator: not enough memory: "
                         "you tried to allocate 1073741824 bytes."),
    lambda: MemoryError(),
])
def test_cli_translate_skips_an_image_that_runs_out_of_memory(run_dir, tmp_path, ganzoo_cli, monkeypatch, oom):
    from ganzoo import inference

    real = inference.Translator.__call__

    def limited(self, x):  # the 48 px image never fits; two 24 px images fit one at a time
        if x.shape[-1] == 48 or (x.shape[0] > 1 and x.shape[-1] == 24):
            raise oom()
        return real(self, x)

    monkeypatch.setattr(inference.Translator, "__call__", limited)
    sizes = {"a.png": 16, "big.png": 48, "c.png": 24, "d.png": 24, "e.png": 16}
    for i, (name, side) in enumerate(sizes.items()):
        noise_image(tmp_path / "in" / name, side, side, seed=i)
    result = ganzoo_cli("translate", run_dir, tmp_path / "in", "--out", tmp_path / "out", "--no-progress",
                        "--batch-size", "2")
    assert result.exit_code != 0 and "Traceback" not in result.output
    assert sorted(p.name for p in (tmp_path / "out").iterdir()) == ["a.png", "c.png", "d.png", "e.png"]
    assert "big.png" in result.output and "out of memory" in result.output
    assert "translated 4 images" in result.output
    last = result.output.strip().splitlines()[-1]
    assert "error:" in last and "1 of 5 images" in last and "big.png" in last


def test_cli_translate_outputs_that_cannot_be_written(run_dir, tmp_path, ganzoo_cli, monkeypatch):
    src = noise_image(tmp_path / "in" / "x.png", 8, 8)
    noise_image(tmp_path / "in" / "y.png", 8, 8, seed=1)
    (tmp_path / "file").write_text("not a folder")
    for out in (tmp_path / "file", tmp_path / "file" / "sub"):  # an existing file; cannot be created
        result = ganzoo_cli("translate", run_dir, src, "--out", out, "--no-progress")
        assert result.exit_code == 2 and result.output.count("error:") == 1, result.output
        assert "Traceback" not in result.output and str(out) in result.output
    assert (tmp_path / "file").read_text() == "not a folder"
    # One output path is taken by a folder: that image is skipped, the other written, nothing half-written.
    (tmp_path / "out" / "x.png").mkdir(parents=True)
    result = ganzoo_cli("translate", run_dir, tmp_path / "in", "--out", tmp_path / "out", "--no-progress")
    assert result.exit_code != 0 and "x.png" in result.output.strip().splitlines()[-1]
    assert "cannot be written" in result.output and "Traceback" not in result.output
    assert sorted(p.name for p in (tmp_path / "out").iterdir()) == ["x.png", "y.png"]
    assert (tmp_path / "out" / "x.png").is_dir() and Image.open(tmp_path / "out" / "y.png").size == (8, 8)
    # A folder without write permission (root ignores chmod, so the probe is made to fail).
    import tempfile

    def denied(*args, **kwargs):
        raise PermissionError(13, "Permission denied")

    monkeypatch.setattr(tempfile, "mkstemp", denied)
    result = ganzoo_cli("translate", run_dir, src, "--out", tmp_path / "locked", "--no-progress")
    assert result.exit_code == 2 and "Permission denied" in result.output and result.output.count("error:") == 1


def test_cli_translate_skips_an_image_whose_pixels_cannot_be_decoded(run_dir, tmp_path, ganzoo_cli):
    good = noise_image(tmp_path / "in" / "a.png", 8, 8)
    bad = noise_image(tmp_path / "in" / "b.jpg", 64, 64, seed=1)
    bad.write_bytes(bad.read_bytes()[:1000])  # the header reads (sizes are taken first), the pixels do not
    result = ganzoo_cli("translate", run_dir, tmp_path / "in", "--out", tmp_path / "out", "--no-progress")
    assert result.exit_code == 2 and "cannot be read" in result.output and "Traceback" not in result.output
    assert [p.name for p in (tmp_path / "out").iterdir()] == [good.name]


@pytest.mark.parametrize("command", ["translate", "evaluate"])
def test_an_unknown_precision_fails_before_the_model_loads(run_dir, tmp_path, ganzoo_cli, command, monkeypatch):
    import ganzoo.engine.loading as loading

    monkeypatch.setattr(loading, "load_trained", lambda *a, **k: pytest.fail("the model was loaded"))
    args = [run_dir, tmp_path / "in.png", "--out", tmp_path / "out"] if command == "translate" else [run_dir]
    result = ganzoo_cli(command, *args, "--precision", "fp8", "--no-progress")
    message = " ".join(result.stderr.replace("│", " ").split())  # the option parser's boxed error, unwrapped
    assert result.exit_code == 2 and "Invalid value for '--precision'" in message
    assert "'fp8' is not one of 'fp32', 'bf16', 'fp16', 'auto'" in message
