"""Published models by name (catalogue, download, convert, translate) and model folders (push,
load, the hub layer with its transfer calls replaced by fakes).

Downloads come from a local HTTP server on 127.0.0.1 serving small checkpoints generated in the
reference layout (``module.`` prefixes and the InstanceNorm buffers PyTorch < 0.4 saved), through
a test catalogue of tiny networks in ``$GANZOO_PRETRAINED_CATALOGUE``.
"""

from __future__ import annotations

import io
import shutil
import sys
import tarfile
import types
import urllib.parse
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image
from test_download import server  # noqa: F401 - the Range-capable HTTP server on 127.0.0.1

import ganzoo
from ganzoo import pretrained as P
from ganzoo.errors import GanzooError
from ganzoo.plugins import get_registry
from ganzoo.sharing import MARKER, WEIGHTS

TINY_CATALOGUE = """
[families.tiny]
method = "cyclegan"
weights = "G_A"
url = "http://publisher.invalid/cyclegan/pretrained_models/{file}.pth"
licence = "BSD-2-Clause"
source = "tests"
[families.tiny.recipe.method]
type = "cyclegan"
[families.tiny.recipe.data]
type = "procedural"
image_size = 16
[families.tiny.recipe.generator]
type = "resnet_9blocks"
ngf = 4
n_blocks = 2
[families.tiny.recipe.discriminator]
type = "patchgan"
ndf = 4
n_layers = 2

[families.tinycut]
method = "cut"
weights = "G"
url = "http://publisher.invalid/CUT/pretrained_models.tar"
member = "{file}_pretrained/latest_net_G.pth"
licence = "BSD"
source = "tests"
[families.tinycut.recipe.method]
type = "cut"
[families.tinycut.recipe.data]
type = "procedural"
image_size = 16
[families.tinycut.recipe.generator]
type = "resnet_9blocks"
ngf = 4
n_blocks = 2
antialias = true
[families.tinycut.recipe.nce_loss]
type = "patchnce"
layers = ["input", "down1", "down2", "block1", "block2"]
[families.tinycut.recipe.discriminator]
type = "patchgan"
ndf = 4
n_layers = 2

[families.tinyp2p]
method = "pix2pix"
weights = "G"
url = "http://publisher.invalid/pix2pix/models-pytorch/{file}.pth"
licence = "BSD-2-Clause"
source = "tests"
[families.tinyp2p.recipe.method]
type = "pix2pix"
[families.tinyp2p.recipe.data]
type = "procedural"
image_size = 32
[families.tinyp2p.recipe.generator]
type = "unet_256"
num_downs = 5
ngf = 4
norm = "batch"
use_dropout = true
[families.tinyp2p.recipe.discriminator]
type = "patchgan"
input_nc = 6
ndf = 4
n_layers = 2
norm = "batch"

[[models]]
name = "tiny_facades"
family = "tinyp2p"
file = "facades_label2photo"
summary = "tiny pix2pix"

[[models]]
name = "tiny_h2z"
family = "tiny"
file = "horse2zebra"
dataset = "horse2zebra"
summary = "tiny"

[[models]]
name = "tiny_cut"
family = "tinycut"
file = "h2z_cut"
dataset = "horse2zebra"
summary = "tiny CUT"
"""


@pytest.fixture
def home(tmp_path, monkeypatch):
    """An empty GANZOO_HOME and the tiny catalogue."""
    (tmp_path / "tiny.toml").write_text(TINY_CATALOGUE)
    monkeypatch.setenv(P.HOME_ENV, str(tmp_path / "home"))
    monkeypatch.setenv(P.CATALOGUE_ENV, str(tmp_path / "tiny.toml"))
    monkeypatch.delenv(P.MIRROR_ENV, raising=False)
    return tmp_path / "home"


def reference_file(seed: int = 0, **config) -> tuple[bytes, torch.nn.Module]:
    """A generator checkpoint as the reference code of 2017 saved it, and the network it holds."""
    torch.manual_seed(seed)
    net = get_registry().get("generator", "resnet_9blocks").build({"ngf": 4, "n_blocks": 2, **config}).eval()
    state = {f"module.{k}": v for k, v in net.state_dict().items()}
    for name, m in net.named_modules():
        if isinstance(m, torch.nn.InstanceNorm2d):
            state[f"module.{name}.running_mean"] = torch.zeros(m.num_features)
            state[f"module.{name}.running_var"] = torch.ones(m.num_features)
    buf = io.BytesIO()
    torch.save(state, buf)
    return buf.getvalue(), net


def url_path(name: str) -> str:
    return urllib.parse.urlsplit(P.lookup(name).url).path


def images(folder: Path, n: int = 2, size: int = 20) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(0)
    for i in range(n):
        Image.fromarray(rng.integers(0, 256, (size, size + 4, 3), dtype=np.uint8)).save(folder / f"{i}.png")
    return folder


def read(folder: Path) -> dict[str, np.ndarray]:
    return {p.name: np.asarray(Image.open(p)) for p in sorted(folder.glob("*.png"))}


# --------------------------------------------------------------------------- the catalogue


def test_every_catalogue_entry_validates():
    models = P.catalogue()
    issue = {"horse2zebra", "zebra2horse", "monet2photo", "style_monet", "style_cezanne", "style_ukiyoe",
             "style_vangogh", "summer2winter_yosemite", "winter2summer_yosemite", "apple2orange", "orange2apple",
             "facades_label2photo", "map2sat", "sat2map", "cityscapes_photo2label", "cityscapes_label2photo",
             "iphone2dslr_flower", "pix2pix_facades_label2photo", "pix2pix_edges2shoes", "horse2zebra_cut"}
    assert issue <= set(models) and len(models) == 29
    registry = get_registry()
    problems = {name: P.validate(entry, registry) for name, entry in models.items()}
    assert {name: p for name, p in problems.items() if p} == {}
    assert models["horse2zebra"].url == "http://efrosgans.eecs.berkeley.edu/cyclegan/pretrained_models/horse2zebra.pth"
    assert models["pix2pix_map2sat"].url == "http://efrosgans.eecs.berkeley.edu/pix2pix/models-pytorch/map2sat.pth"
    assert models["pix2pix_map2sat"].recipe["data"]["direction"] == "BtoA"
    assert models["style_monet"].recipe["data"]["dir_a"] == "data/monet2photo/trainB"  # photos in, Monet out
    assert models["horse2zebra"].architecture == "resnet_9blocks, ngf 64, norm instance"
    assert models["pix2pix_edges2shoes"].architecture == "unet_256, ngf 64, norm batch, dropout"
    assert models["zebra2horse"].data_command == "ganzoo data download cyclegan/horse2zebra --root data"
    assert models["pix2pix_day2night"].data_command == "ganzoo data download pix2pix/night2day --root data"
    assert models["cityscapes_cut"].data_command == ""  # Cityscapes needs a registration: no download


def test_a_broken_entry_is_reported(home):
    bad = P.parse_catalogue({"families": {"f": {"method": "cyclegan", "weights": "G_B", "url": "ftp:/x",
                                                "recipe": {"method": {"type": "cyclegan"},
                                                           "data": {"type": "procedural"},
                                                           "generator": {"type": "resnet_9blocks", "ngf": 4}}}},
                             "models": [{"name": "bad", "family": "f"}]})[0]
    problems = " | ".join(P.validate(bad, get_registry()))
    assert "not a well-formed" in problems and "no licence" in problems and "a2b generator is G_A" in problems
    with pytest.raises(GanzooError, match="did you mean tiny_h2z"):
        P.lookup("tiny_h2s")


def test_listing_imports_no_torch():
    from test_cli_startup import probe

    report, stdout = probe("pretrained", "list")
    assert report["code"] in (0, None) and report["heavy"] == [] and "horse2zebra" in stdout


def test_list_json(home, ganzoo_cli):
    result = ganzoo_cli("pretrained", "list", "--json")
    assert result.exit_code == 0, result.output
    import json

    rows = {r["name"]: r for r in json.loads(result.stdout)}
    assert len(rows) == 32 and rows["tiny_h2z"]["present"] is False
    assert rows["horse2zebra"]["generator"]["ngf"] == 64 and rows["horse2zebra"]["licence"].startswith("BSD")


# --------------------------------------------------------------------------- download, convert, translate


def test_download_convert_and_translate_by_name(server, home, ganzoo_cli, tmp_path, monkeypatch):  # noqa: F811
    base, served = server
    data, net = reference_file()
    served.files[url_path("tiny_h2z")] = data
    monkeypatch.setenv(P.MIRROR_ENV, base)
    inputs = images(tmp_path / "in")
    by_name = ganzoo_cli("translate", "tiny_h2z", inputs, "--out", tmp_path / "by_name", "--no-progress")
    assert by_name.exit_code == 0, by_name.output
    folder = home / "pretrained" / "tiny_h2z"
    assert (folder / MARKER).is_file() and (folder / WEIGHTS).is_file() and (folder / "recipe.toml").is_file()
    kept = home / "downloads" / "tiny-tiny_h2z.pth"
    assert kept.read_bytes() == data and kept.with_name(kept.name + ".sha256").is_file()
    # The same file through the existing reference import gives the same images.
    (tmp_path / "latest_net_G_A.pth").write_bytes(data)
    direct = ganzoo_cli("translate", inputs, "--out", tmp_path / "direct", "--reference-generator",
                        tmp_path / "latest_net_G_A.pth", "-g", "ngf=4", "-g", "n_blocks=2", "--no-progress")
    assert direct.exit_code == 0, direct.output
    got, want = read(tmp_path / "by_name"), read(tmp_path / "direct")
    assert list(got) == ["0.png", "1.png"] and all(np.array_equal(got[k], want[k]) for k in want)
    # Cached: a second use downloads nothing; the model folder loads from Python too, a2b only.
    again = ganzoo_cli("pretrained", "download", "tiny_h2z", "--no-progress")
    assert again.exit_code == 0 and "already in" in again.stdout and len(served.requests) == 1
    model = ganzoo.load("tiny_h2z", device="cpu")
    x = torch.rand(1, 3, 16, 16) * 2 - 1
    assert torch.allclose(model(x), net(x).clamp(-1, 1), atol=1e-6)
    with pytest.raises(GanzooError, match="translates a2b, not 'b2a'"):
        model(x, "b2a")


@pytest.mark.parametrize("body", [b"<!DOCTYPE html><html><body>Quota exceeded</body></html>",
                                  b"\x80\x02" + b"\xffgarbage" * 50, "other network"])
def test_a_corrupted_or_html_response_is_refused_and_not_cached(server, home, body):  # noqa: F811
    base, served = server
    served.files[url_path("tiny_h2z")] = reference_file(ngf=8)[0] if body == "other network" else body
    with pytest.raises(GanzooError, match="nothing was cached") as error:
        P.download_pretrained(P.lookup("tiny_h2z"), mirror=base, progress=False)
    if isinstance(body, bytes) and body.startswith(b"<"):
        assert "HTML page" in str(error.value)
    downloads = home / "downloads"
    assert not (home / "pretrained").exists() and (not downloads.exists() or list(downloads.iterdir()) == [])
    served.files[url_path("tiny_h2z")] = reference_file()[0]  # the right file afterwards is taken
    assert P.download_pretrained(P.lookup("tiny_h2z"), mirror=base, progress=False).downloaded


def test_an_interrupted_download_resumes(server, home):  # noqa: F811
    base, served = server
    data = reference_file()[0]
    served.files[url_path("tiny_h2z")] = data
    served.cut_after[url_path("tiny_h2z")] = len(data) // 2
    with pytest.raises(GanzooError, match="run the same command again to resume"):
        P.download_pretrained(P.lookup("tiny_h2z"), mirror=base, progress=False)
    assert not (home / "pretrained").exists()
    result = P.download_pretrained(P.lookup("tiny_h2z"), mirror=base, progress=False)
    assert result.resumed_from == len(data) // 2 and served.requests[-1][1] == f"bytes={len(data) // 2}-"


def test_a_pix2pix_file_of_old_pytorch_loads(server, home):  # noqa: F811
    """The published pix2pix files predate num_batches_tracked (PyTorch < 0.4.1)."""
    base, served = server
    torch.manual_seed(0)
    config = {"num_downs": 5, "ngf": 4, "norm": "batch", "use_dropout": True}
    net = get_registry().get("generator", "unet_256").build(config)
    state = {k: v for k, v in net.state_dict().items() if not k.endswith("num_batches_tracked")}
    buf = io.BytesIO()
    torch.save(state, buf)
    served.files[url_path("tiny_facades")] = buf.getvalue()
    model = ganzoo.load(P.download_pretrained(P.lookup("tiny_facades"), mirror=base, progress=False).folder,
                        device="cpu")
    loaded = model.method.G.state_dict()
    assert all(torch.equal(loaded[k], v) for k, v in state.items())
    assert model.method.test_mode == "train" and model(torch.zeros(1, 3, 32, 32)).shape == (1, 3, 32, 32)


def test_an_unknown_name_suggests_close_ones(home, ganzoo_cli, tmp_path):
    inputs = images(tmp_path / "in", n=1)
    result = ganzoo_cli("translate", "hors2zebra", inputs, "--out", tmp_path / "out")
    assert result.exit_code == 2 and "did you mean horse2zebra" in result.output
    for command in (["evaluate", "hors2zebra"], ["export", "hors2zebra", "--out", tmp_path / "g.pt"]):
        result = ganzoo_cli(*command)
        assert result.exit_code == 2 and "did you mean horse2zebra" in result.output, command


def test_offline_says_where_to_put_the_file_and_a_file_put_there_is_used(home):
    entry = P.lookup("tiny_h2z")
    with pytest.raises(GanzooError) as error:
        P.download_pretrained(entry, mirror="http://127.0.0.1:9/", progress=False)
    message = str(error.value)
    path = home / "downloads" / "tiny-tiny_h2z.pth"
    assert "http://127.0.0.1:9/cyclegan/pretrained_models/horse2zebra.pth" in message and str(path) in message
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(b"<html>a login page saved by mistake</html>")
    with pytest.raises(GanzooError, match="does not load as the weights of tiny_h2z.*HTML page"):
        P.download_pretrained(entry, mirror="http://127.0.0.1:9/", progress=False)
    assert path.is_file() and not path.with_name(path.name + ".sha256").exists()  # the user's file is kept
    path.write_bytes(reference_file()[0])
    result = P.download_pretrained(entry, mirror="http://127.0.0.1:9/", progress=False)
    assert (result.folder / MARKER).is_file() and path.with_name(path.name + ".sha256").is_file()
    shutil.rmtree(result.folder)  # the folder gone and the kept file swapped: refused by its checksum
    path.write_bytes(reference_file(seed=1)[0])
    with pytest.raises(GanzooError, match="--force"):
        P.download_pretrained(entry, mirror="http://127.0.0.1:9/", progress=False)


def test_a_model_inside_an_archive(server, home):  # noqa: F811
    base, served = server
    data, net = reference_file(antialias=True)
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w") as tar:
        for name, payload in (("checkpoints/other_pretrained/latest_net_G.pth", b"x"),
                              ("checkpoints/h2z_cut_pretrained/latest_net_G.pth", data)):
            info = tarfile.TarInfo(name)
            info.size = len(payload)
            tar.addfile(info, io.BytesIO(payload))
    served.files["/CUT/pretrained_models.tar"] = buf.getvalue()
    result = P.download_pretrained(P.lookup("tiny_cut"), mirror=base, progress=False)
    model = ganzoo.load(result.folder, device="cpu")
    x = torch.rand(1, 3, 16, 16) * 2 - 1
    assert torch.allclose(model(x), net(x).clamp(-1, 1), atol=1e-6)


# --------------------------------------------------------------------------- push and the hub


def test_push_round_trips_and_the_card_has_recipe_and_metrics(tiny_run, tmp_path, ganzoo_cli):
    dest = tmp_path / "shared"
    result = ganzoo_cli("push", tiny_run, dest)
    assert result.exit_code == 0, result.output
    assert {p.name for p in dest.iterdir()} >= {MARKER, WEIGHTS, "recipe.toml", "README.md", "metrics.json",
                                                "plugins.json"}
    card = (dest / "README.md").read_text()
    assert "[generator]" in card and 'type = "resnet_6blocks"' in card and "a2b/psnr" in card
    assert f'ganzoo.load("{dest}")' in card
    assert "Training data" in card and "Budget" in card and "procedural" in card and "test** split" in card
    x = torch.rand(2, 3, 16, 16) * 2 - 1
    original, shared = ganzoo.load(tiny_run, device="cpu"), ganzoo.load(dest, device="cpu")
    assert shared.directions == ("a2b", "b2a")
    for direction in ("a2b", "b2a"):
        assert torch.equal(original(x, direction), shared(x, direction))
    inputs = images(tmp_path / "in")
    for source, out in ((tiny_run, "a"), (dest, "b")):
        assert ganzoo_cli("translate", source, inputs, "--out", tmp_path / out, "--no-progress").exit_code == 0
    assert all(np.array_equal(a, b) for a, b in zip(read(tmp_path / "a").values(), read(tmp_path / "b").values(),
                                                    strict=True))
    refused = ganzoo_cli("push", tiny_run, dest)
    assert refused.exit_code == 2 and "--overwrite" in refused.output
    (tmp_path / "mine").mkdir()
    (tmp_path / "mine" / "notes.txt").write_text("keep")
    refused = ganzoo_cli("push", tiny_run, tmp_path / "mine", "--overwrite")
    assert refused.exit_code == 2 and (tmp_path / "mine" / "notes.txt").read_text() == "keep"


@pytest.fixture
def fake_hub(tmp_path, monkeypatch):
    """huggingface_hub with its transfer calls replaced: uploads copy into a folder per repo."""
    store = tmp_path / "hub"
    calls: list[tuple] = []

    class HfApi:
        def create_repo(self, repo_id, repo_type, private, exist_ok):
            calls.append(("create", repo_id, private))

        def upload_folder(self, folder_path, repo_id, repo_type, revision, commit_message):
            calls.append(("upload", repo_id, sorted(p.name for p in Path(folder_path).iterdir())))
            shutil.copytree(folder_path, store / repo_id, dirs_exist_ok=True)

    def snapshot_download(repo_id, revision, allow_patterns):
        calls.append(("download", repo_id, revision))
        if not (store / repo_id).is_dir():
            raise OSError(f"404 Client Error: {repo_id} not found")
        return str(store / repo_id)

    monkeypatch.setitem(sys.modules, "huggingface_hub",
                        types.SimpleNamespace(HfApi=HfApi, snapshot_download=snapshot_download))
    return calls


def test_push_to_and_load_from_the_hub(tiny_run, fake_hub, tmp_path, ganzoo_cli):
    result = ganzoo_cli("push", tiny_run, "hf://me/tiny-cyclegan", "--private")
    assert result.exit_code == 0, result.output
    assert "https://huggingface.co/me/tiny-cyclegan" in result.stdout
    assert fake_hub[0] == ("create", "me/tiny-cyclegan", True) and MARKER in fake_hub[1][2]
    x = torch.rand(1, 3, 16, 16) * 2 - 1
    assert torch.equal(ganzoo.load("hf://me/tiny-cyclegan", device="cpu")(x), ganzoo.load(tiny_run, device="cpu")(x))
    inputs = images(tmp_path / "in", n=1)
    by_hub = ganzoo_cli("translate", "hf://me/tiny-cyclegan", inputs, "--out", tmp_path / "out", "--no-progress")
    assert by_hub.exit_code == 0, by_hub.output and (tmp_path / "out" / "0.png").is_file()
    missing = ganzoo_cli("translate", "hf://me/nothing", inputs, "--out", tmp_path / "out2")
    assert missing.exit_code == 2 and "could not be fetched" in missing.output
    evaluated = ganzoo_cli("evaluate", "hf://me/tiny-cyclegan", "--metrics", "psnr", "-n", "2", "--no-progress")
    assert evaluated.exit_code == 0, evaluated.output
    assert "a2b" in evaluated.stdout and "psnr" in evaluated.stdout
    exported = ganzoo_cli("export", "hf://me/tiny-cyclegan", "--out", tmp_path / "g.pt", "--size", "16")
    assert exported.exit_code == 0, exported.output
    assert (tmp_path / "g.pt").is_file()


def test_hub_without_huggingface_hub_says_how_to_install_it(tiny_run, monkeypatch, tmp_path):
    monkeypatch.setitem(sys.modules, "huggingface_hub", None)  # import fails as if not installed
    with pytest.raises(GanzooError, match="pip install huggingface_hub"):
        ganzoo.load("hf://me/tiny")
    from ganzoo.push import push

    with pytest.raises(GanzooError, match="pip install huggingface_hub"):
        push(tiny_run, "hf://me/tiny")


def test_a_published_model_pushed_again_keeps_its_one_direction(server, home, tmp_path):  # noqa: F811
    base, served = server
    data, net = reference_file()
    served.files[url_path("tiny_h2z")] = data
    folder = P.download_pretrained(P.lookup("tiny_h2z"), mirror=base, progress=False).folder
    from ganzoo.push import push

    shared = push(folder, tmp_path / "again").folder
    model = ganzoo.load(shared, device="cpu")
    x = torch.rand(1, 3, 16, 16) * 2 - 1
    assert model.directions == ("a2b",) and torch.allclose(model(x), net(x).clamp(-1, 1), atol=1e-6)
    card = (shared / "README.md").read_text()
    assert "published model tiny_h2z (http://publisher.invalid/" in card and "licence: BSD-2-Clause" in card


class Payload:
    """Unpickling this creates a file: what a malicious checkpoint would do."""

    def __init__(self, target: Path):
        self.target = target

    def __reduce__(self):
        return (Path.touch, (self.target,))


def test_a_model_folder_never_unpickles(tiny_run, tmp_path):
    from ganzoo.errors import CheckpointError
    from ganzoo.push import push

    folder = push(tiny_run, tmp_path / "m").folder
    torch.save({"G_A.x": Payload(tmp_path / "pwned")}, folder / WEIGHTS)  # a pickle under the safetensors name
    with pytest.raises(CheckpointError, match="cannot be read as safetensors"):
        ganzoo.load(folder, device="cpu")
    assert not (tmp_path / "pwned").exists()
