"""Evaluation metrics: FID/KID maths and the FID Inception network, PSNR/SSIM/LPIPS, the metric
registry, ``evaluate`` and ``ganzoo evaluate``.

No weights can be downloaded here, so the Inception network and LPIPS' backbone are randomly
initialised with fixed seeds at small sizes: the numbers mean nothing, but their properties
(zero for identical sets, growth with noise, agreement with direct computations) are checked.
"""

from __future__ import annotations

import json
import math

import numpy as np
import pytest
import torch
from torchvision.models import inception as tv_inception

from ganzoo.errors import GanzooError
from ganzoo.metrics import Metric, MetricConfig
from ganzoo.metrics.distribution import (
    FID,
    KID,
    fid_from_features,
    frechet_distance,
    kernel_inception_distance,
)
from ganzoo.metrics.inception import (
    FID_WEIGHTS_URL,
    FIDInceptionA,
    FIDInceptionE2,
    FIDInceptionV3,
    fid_inception_v3,
    resolve_inception_weights,
)
from ganzoo.metrics.paired import LPIPS, PSNR, SSIM, build_lpips, resolve_lpips_backbone
from ganzoo.testing import write_unpaired_folders

RANDOM_FID = {"random_weights": True, "resize": 75, "dims": 64, "seed": 0}


def images(n=20, size=32, seed=0):
    g = torch.Generator().manual_seed(seed)
    return torch.rand(n, 3, size, size, generator=g) * 2 - 1


def noisy(x, sigma, seed=1):
    g = torch.Generator().manual_seed(seed)
    return (x + sigma * torch.randn(x.shape, generator=g)).clamp(-1, 1)


# --------------------------------------------------------------------------- FID


def test_frechet_distance_of_known_gaussians():
    # Diagonal covariances: FID = |mu1 - mu2|^2 + sum (sqrt(a) - sqrt(b))^2.
    mu1, mu2 = np.array([0.0, 1.0, 2.0]), np.array([1.0, 1.0, 0.0])
    a, b = np.array([1.0, 4.0, 9.0]), np.array([4.0, 4.0, 1.0])
    expected = 5.0 + ((np.sqrt(a) - np.sqrt(b)) ** 2).sum()
    for method in ("sqrtm", "eigh"):
        assert frechet_distance(mu1, np.diag(a), mu2, np.diag(b), sqrt_method=method) == pytest.approx(expected)


def test_sqrtm_and_eigh_agree_on_full_covariances():
    rng = np.random.default_rng(0)
    f1, f2 = rng.normal(size=(200, 16)), rng.normal(0.3, 1.5, size=(200, 16)) @ rng.normal(size=(16, 16))
    assert fid_from_features(f1, f2, sqrt_method="sqrtm") == pytest.approx(
        fid_from_features(f1, f2, sqrt_method="eigh"), rel=1e-6)


def test_fid_is_zero_for_the_same_set_and_grows_with_noise():
    fid = FID(FID.Config(**RANDOM_FID))
    x = images()
    fid.update(x, x)
    assert abs(fid.compute()["fid"]) < 1e-6
    scores = []
    for sigma in (0.05, 0.2, 0.5):
        fid.reset()
        fid.update(noisy(x, sigma), x)
        scores.append(fid.compute()["fid"])
    assert 0 < scores[0] < scores[1] < scores[2]


def test_fid_features_are_shared_between_metrics():
    fid, kid = FID(FID.Config(**RANDOM_FID)), KID(KID.Config(**RANDOM_FID))
    assert fid.extractor() is kid.extractor()  # one network per settings and device
    x = images(4)
    assert fid.extractor()(x) is kid.extractor()(x)  # and one forward pass per batch
    y = x.clone()
    assert fid.extractor()(y) is not fid.extractor()(x)


def test_fid_inception_blocks_follow_pytorch_fid():
    torch.manual_seed(0)
    net = fid_inception_v3()
    assert isinstance(net.Mixed_5b, FIDInceptionA) and isinstance(net.Mixed_7c, FIDInceptionE2)
    assert net.fc.out_features == 1008 and net.AuxLogits is None
    # The pooling branch ignores the zero padding: same as torchvision's block inside, not at borders.
    ours = net.Mixed_5b.eval()
    theirs = tv_inception.InceptionA(192, pool_features=32).eval()
    theirs.load_state_dict(ours.state_dict())
    x = torch.randn(1, 192, 7, 7)
    with torch.no_grad():
        a, b = ours(x), theirs(x)
    torch.testing.assert_close(a[..., 1:-1, 1:-1], b[..., 1:-1, 1:-1])
    assert not torch.allclose(a[..., 0, 0], b[..., 0, 0])


def test_full_network_gives_2048_features_and_loads_a_weights_file(tmp_path):
    torch.manual_seed(0)
    reference = fid_inception_v3()
    for m in reference.modules():
        if isinstance(m, torch.nn.BatchNorm2d):  # non-trivial statistics, as real weights have
            m.running_mean.uniform_(-0.1, 0.1)
            m.running_var.uniform_(0.5, 1.5)
    state = {k: v for k, v in reference.state_dict().items() if not k.endswith("num_batches_tracked")}
    torch.save(state, tmp_path / "pt_inception.pth")  # like the 2015 file: no num_batches_tracked
    net = FIDInceptionV3(tmp_path / "pt_inception.pth", resize=75)
    x = torch.rand(2, 3, 40, 50)
    with torch.no_grad():
        feats = net(x)
        y = torch.nn.functional.interpolate(x, size=(75, 75), mode="bilinear", align_corners=False) * 2 - 1
        reference.eval()
        for name in ["Conv2d_1a_3x3", "Conv2d_2a_3x3", "Conv2d_2b_3x3", "maxpool1", "Conv2d_3b_1x1",
                     "Conv2d_4a_3x3", "maxpool2", "Mixed_5b", "Mixed_5c", "Mixed_5d", "Mixed_6a", "Mixed_6b",
                     "Mixed_6c", "Mixed_6d", "Mixed_6e", "Mixed_7a", "Mixed_7b", "Mixed_7c", "avgpool"]:
            y = getattr(reference, name)(y)
    assert feats.shape == (2, 2048)
    torch.testing.assert_close(feats, y.flatten(1))
    assert len(net.sha256) == 64


def test_missing_inception_weights_name_the_url_and_where_they_were_looked_for(tmp_path, monkeypatch):
    monkeypatch.delenv("GANZOO_INCEPTION_WEIGHTS", raising=False)
    monkeypatch.setattr(torch.hub, "get_dir", lambda: str(tmp_path / "hub"))
    with pytest.raises(GanzooError) as info:
        resolve_inception_weights()
    assert FID_WEIGHTS_URL in str(info.value) and str(tmp_path / "hub" / "checkpoints") in str(info.value)
    with pytest.raises(GanzooError, match="does not exist"):
        resolve_inception_weights(tmp_path / "nope.pth")
    weights = tmp_path / "w.pth"
    weights.write_bytes(b"x")
    monkeypatch.setenv("GANZOO_INCEPTION_WEIGHTS", str(weights))
    assert resolve_inception_weights() == weights
    fid = FID(FID.Config())
    with pytest.raises(GanzooError, match="not the FID Inception weights"):
        fid.update(images(2), images(2))


# --------------------------------------------------------------------------- KID


def naive_mmd2(x, y):
    """The unbiased MMD^2 with k(a, b) = (a.b / d + 1)^3, pair by pair."""
    d, m = x.shape[1], x.shape[0]

    def k(a, b):
        return (float(np.dot(a, b)) / d + 1) ** 3

    xx = sum(k(x[i], x[j]) for i in range(m) for j in range(m) if i != j) / (m * (m - 1))
    yy = sum(k(y[i], y[j]) for i in range(m) for j in range(m) if i != j) / (m * (m - 1))
    xy = sum(k(x[i], y[j]) for i in range(m) for j in range(m)) / (m * m)
    return xx + yy - 2 * xy


def test_kid_matches_a_direct_computation():
    rng = np.random.default_rng(0)
    x, y = rng.normal(size=(12, 5)), rng.normal(0.5, 1.0, size=(12, 5))
    mean, std = kernel_inception_distance(x, y, num_subsets=3, subset_size=1000)
    assert mean == pytest.approx(naive_mmd2(x, y), rel=1e-10)  # subsets of all 12: every subset is the set
    assert std == pytest.approx(0, abs=1e-12)
    mean, std = kernel_inception_distance(x, y, num_subsets=50, subset_size=6, seed=3)
    rs = np.random.RandomState(3)
    values = []
    for _ in range(50):
        values.append(naive_mmd2(x[rs.choice(12, 6, replace=False)], y[rs.choice(12, 6, replace=False)]))
    assert mean == pytest.approx(np.mean(values)) and std == pytest.approx(np.std(values))


def test_kid_is_unbiased_near_zero_for_one_distribution():
    rng = np.random.default_rng(1)
    a, b = rng.normal(size=(300, 8)), rng.normal(size=(300, 8))
    same, spread = kernel_inception_distance(a, b, num_subsets=20, subset_size=100)
    shifted, _ = kernel_inception_distance(a, b + 0.5, num_subsets=20, subset_size=100)
    assert abs(same) < 3 * spread / math.sqrt(20) + 1e-3
    assert shifted > 10 * abs(same)


def test_kid_metric_reports_mean_and_std():
    kid = KID(KID.Config(**RANDOM_FID, num_subsets=10, subset_size=8))
    x = images(12)
    kid.update(noisy(x, 0.3), x)
    scores = kid.compute()
    assert set(scores) == {"kid", "kid_std"} and scores["kid"] > 0 and scores["kid_std"] > 0
    assert "10 subsets of 8" in kid.protocol()["kid"]


# --------------------------------------------------------------------------- paired metrics


def test_psnr_against_a_hand_computation():
    x = images(3, 16)
    y = noisy(x, 0.1)
    mse = (((x + 1) / 2 - (y + 1) / 2) ** 2).flatten(1).mean(1)
    expected = (10 * torch.log10(1 / mse)).mean()
    metric = PSNR()
    metric.update(y[:2], x[:2])
    metric.update(y[2:], x[2:])  # streaming: the mean over images, whatever the batches
    assert metric.compute()["psnr"] == pytest.approx(float(expected), rel=1e-5)
    metric.reset()
    metric.update(x, x)
    assert metric.compute()["psnr"] == 100.0  # identical images are capped, not infinite


def test_ssim_against_kornia_and_identity():
    from kornia.metrics import ssim

    x = images(2, 24)
    y = noisy(x, 0.2)
    metric = SSIM()
    metric.update(y, x)
    expected = ssim((y + 1) / 2, (x + 1) / 2, 11, padding="valid").mean()
    assert metric.compute()["ssim"] == pytest.approx(float(expected), rel=1e-5)
    metric.reset()
    metric.update(x, x)
    assert metric.compute()["ssim"] == pytest.approx(1.0, abs=1e-4)
    with pytest.raises(GanzooError, match="smaller than"):
        metric.update(images(1, 8), images(1, 8))
    with pytest.raises(GanzooError, match="ground truth"):
        metric.update(x)


@pytest.mark.filterwarnings("ignore::UserWarning")  # torchvision's deprecation warnings from inside lpips
def test_lpips_with_a_random_backbone():
    import lpips

    metric = LPIPS(LPIPS.Config(random_backbone=True, seed=0))
    x = images(3, 32)
    metric.update(x, x)
    assert metric.compute()["lpips"] == pytest.approx(0.0, abs=1e-6)
    scores = []
    for sigma in (0.1, 0.5):
        metric.reset()
        metric.update(noisy(x, sigma), x)
        scores.append(metric.compute()["lpips"])
    assert 0 < scores[0] < scores[1]
    torch.manual_seed(0)  # the same random backbone, built by lpips directly
    direct = lpips.LPIPS(net="alex", pnet_rand=True, verbose=False).eval()
    with torch.no_grad():
        assert scores[1] == pytest.approx(float(direct(noisy(x, 0.5), x).mean()), rel=1e-5)


def test_lpips_backbone_comes_from_a_local_file_or_a_clear_error(tmp_path, monkeypatch):
    from torchvision.models import alexnet

    monkeypatch.delenv("GANZOO_LPIPS_BACKBONE", raising=False)
    monkeypatch.setattr(torch.hub, "get_dir", lambda: str(tmp_path / "hub"))
    with pytest.raises(GanzooError, match="alexnet-owt-7be5be79.pth"):
        resolve_lpips_backbone("alex")
    torch.manual_seed(3)
    features = alexnet().features.state_dict()
    (tmp_path / "hub" / "checkpoints").mkdir(parents=True)
    torch.save({f"features.{k}": v for k, v in features.items()}, tmp_path / "hub" / "checkpoints" /
               "alexnet-owt-7be5be79.pth")
    model = build_lpips("alex")
    torch.testing.assert_close(model.net.slice2.get_submodule("3").weight, features["3.weight"])
    torch.testing.assert_close(model.net.slice5.get_submodule("10").bias, features["10.bias"])


# --------------------------------------------------------------------------- registry and evaluation


@pytest.fixture
def metrics_registry():
    from ganzoo.plugins import load_plugins

    return load_plugins().registry


@pytest.fixture
def core_metrics():
    """The CLI caches its plugin set; start and end each test with a fresh one."""
    from ganzoo import plugins

    plugins.reset()
    yield
    plugins.reset()


def test_builtin_metrics_are_registered_components(metrics_registry):
    assert {"fid", "kid", "psnr", "ssim", "lpips"} <= set(metrics_registry.names("metric"))
    spec = metrics_registry.get("metric", "kid")
    assert spec.build({"num_subsets": 5}).config.num_subsets == 5


@pytest.fixture(scope="module")
def trained(tiny_run):
    from ganzoo.engine.loading import load_trained

    resolved, recipe, _ = load_trained(tiny_run)
    return tiny_run, resolved, recipe


class MeanBrightness(Metric):
    """A plugin's metric: needs no target at all."""

    Config = MetricConfig
    needs_target = False
    higher_is_better = {"brightness": True}

    def reset(self):
        self.values = []

    def update(self, output, target=None):
        self.values.append(output.mean(dim=(1, 2, 3)))

    def compute(self):
        return {"brightness": float(torch.cat(self.values).mean())}


def test_evaluate_scores_both_directions_and_skips_pairs_on_unpaired_data(trained, metrics_registry):
    from ganzoo.data.images import quantize
    from ganzoo.inference import Translator
    from ganzoo.metrics.evaluate import build_metrics, evaluate
    from ganzoo.metrics.paired import psnr

    _, resolved, recipe = trained
    test = resolved.build_dataset("test")
    metrics = build_metrics(["psnr", "fid"], {"fid": RANDOM_FID}, metrics_registry)
    metrics["brightness"] = MeanBrightness()
    results = evaluate(recipe, test, metrics, device="cpu", max_items=5, batch_size=2).results
    assert set(results) == {f"{d}/{k}" for d in ("a2b", "b2a") for k in ("psnr", "fid", "brightness")}
    a = torch.stack([test[i]["A"] for i in range(5)])
    b = torch.stack([test[i]["B"] for i in range(5)])
    expected = psnr(quantize(Translator.from_method(recipe, "a2b")(a)), quantize(b))
    assert results["a2b/psnr"] == pytest.approx(float(expected), rel=1e-4)

    class Unpaired(torch.utils.data.Dataset):
        """3 A files and 5 B files, wrapped to 5 items like the folder data sets."""

        paired, split = False, "test"

        def __len__(self):
            return 5

        def __getitem__(self, i):
            return {"A": test[i % 3]["A"], "B": test[i]["B"], "A_path": f"a{i % 3}.png", "B_path": f"b{i}.png"}

    report = evaluate(recipe, Unpaired(), metrics, batch_size=2)
    assert "a2b/psnr" in report.skipped and "a2b/fid" in report.results and "b2a/fid" in report.results
    assert report.protocol["items"] == 5 and report.protocol["paired"] is False
    assert report.protocol["images"] == {"a2b": {"translated": 3, "real": 5}, "b2a": {"translated": 5, "real": 3}}
    assert "psnr" not in report.protocol["metrics"]


def test_cli_evaluate_writes_results_and_protocol(trained, tmp_path, ganzoo_cli, core_metrics):
    run_dir, _, _ = trained
    options = [f"--metric-option=fid.{k}={str(v).lower()}" for k, v in RANDOM_FID.items()]
    result = ganzoo_cli("evaluate", run_dir, "--metrics", "fid,psnr,ssim", *options,
                        "--metric-option", "ssim.window_size=7", "--json", tmp_path / "eval.json", "--no-progress")
    assert result.exit_code == 0, result.output
    assert "fid (lower better)" in result.output and "psnr (higher better)" in result.output
    data = json.loads((tmp_path / "eval.json").read_text())
    assert {"a2b/fid", "b2a/fid", "a2b/psnr", "a2b/ssim"} <= set(data["results"])
    protocol = data["protocol"]
    assert protocol["split"] == "test" and protocol["items"] == 6 and protocol["image_sizes"] == ["16x16"]
    assert protocol["step"] == 2 and protocol["data"]["type"] == "procedural"
    assert "RANDOM WEIGHTS" in protocol["metrics"]["fid"]["network"]
    assert "8 bits" in protocol["outputs"]


def test_cli_evaluate_without_inception_weights_fails_fast(trained, tmp_path, ganzoo_cli, core_metrics,
                                                          monkeypatch):
    monkeypatch.delenv("GANZOO_INCEPTION_WEIGHTS", raising=False)
    monkeypatch.setattr(torch.hub, "get_dir", lambda: str(tmp_path / "hub"))
    run_dir, _, _ = trained
    result = ganzoo_cli("evaluate", run_dir, "--metrics", "fid", "--no-progress")
    assert result.exit_code == 2
    assert FID_WEIGHTS_URL in result.output and "--inception-weights" in result.output
    result = ganzoo_cli("evaluate", run_dir, "--metrics", "fdi", "--no-progress")
    assert result.exit_code == 2 and "did you mean 'fid'" in result.output


def test_evaluate_json_to_stdout_is_pure_json(tiny_run, ganzoo_cli):
    result = ganzoo_cli("evaluate", tiny_run, "--metrics", "psnr", "--max-items", "2", "--json", "-", "--no-progress",
                        "--device", "cpu")
    assert result.exit_code == 0, result.output
    assert set(json.loads(result.stdout)["results"]) == {"a2b/psnr", "b2a/psnr"}
    assert "psnr" in result.stderr  # the table went to stderr


@pytest.fixture
def no_weights(tmp_path, monkeypatch):
    """An empty torch hub cache and no weight variables: the state of a fresh install."""
    for var in ("GANZOO_INCEPTION_WEIGHTS", "GANZOO_LPIPS_BACKBONE"):
        monkeypatch.delenv(var, raising=False)
    monkeypatch.setattr(torch.hub, "get_dir", lambda: str(tmp_path / "hub"))


def test_cli_evaluate_defaults_skip_metrics_without_weights_and_run_the_rest(trained, ganzoo_cli, core_metrics,
                                                                             no_weights):
    run_dir, _, _ = trained
    result = ganzoo_cli("evaluate", run_dir, "--no-progress", "--json", "-")
    assert result.exit_code == 0, result.output
    data = json.loads(result.stdout)
    assert set(data["results"]) == {f"{d}/{k}" for d in ("a2b", "b2a") for k in ("psnr", "ssim")}
    assert set(data["skipped"]) == {f"{d}/{k}" for d in ("a2b", "b2a") for k in ("fid", "kid", "lpips")}
    lines = [line for line in result.stderr.splitlines() if line.startswith("skipped")]
    assert len(lines) == 2  # one line per reason: fid and kid miss the same file, in both directions
    assert "skipped fid, kid (a2b, b2a)" in lines[0] and "ganzoo weights fetch inception" in lines[0]
    assert any("skipped lpips" in line and "ganzoo weights fetch lpips-alex" in line for line in lines)


def test_cli_evaluate_with_nothing_measurable_fails_saying_why(trained, tmp_path, ganzoo_cli, core_metrics,
                                                               no_weights):
    run_dir, _, _ = trained
    data = write_unpaired_folders(tmp_path / "data")
    unpaired = ["--data", "type=unpaired_folders", "--data", f"root={data}", "--data", "load_size=16",
                "--data", "crop_size=16"]
    result = ganzoo_cli("evaluate", run_dir, "--metrics", "psnr,ssim", *unpaired, "--no-progress")
    assert result.exit_code == 2, result.output
    assert "needs ground truth; the split is unpaired" in result.output
    assert "no metric could be computed" in result.output and "--metrics fid,kid" in result.output
    result = ganzoo_cli("evaluate", run_dir, *unpaired, "--no-progress")  # the defaults on unpaired data
    assert result.exit_code == 2
    assert "ganzoo weights fetch inception" in result.output and "no metric could be computed" in result.output
    options = [f"--metric-option=fid.{k}={str(v).lower()}" for k, v in RANDOM_FID.items()]
    result = ganzoo_cli("evaluate", run_dir, "--metrics", "fid,psnr", *options, *unpaired, "--no-progress")
    assert result.exit_code == 0, result.output  # what can run runs
    assert "skipped psnr (a2b, b2a): needs ground truth" in result.output


def test_an_explicit_weights_path_that_does_not_exist_is_an_error_not_a_skip(trained, tmp_path, ganzoo_cli,
                                                                            core_metrics):
    run_dir, _, _ = trained
    result = ganzoo_cli("evaluate", run_dir, "--inception-weights", tmp_path / "nope.pth", "--no-progress")
    assert result.exit_code == 2 and "nope.pth does not exist" in result.output
