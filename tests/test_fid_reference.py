"""ganzoo's FID against pytorch-fid itself (a test dependency), not against ganzoo's own reading of it.

The real FID weights cannot be downloaded here, so both networks get the *same* random weights:
pytorch-fid's own ``fid_inception_v3()`` is built with its weight download replaced by a seeded
random state dict, ganzoo's network loads that same dict from a file. Any difference in the
architecture (a pooling branch that counts the padding, a max pool where an average pool belongs,
a resize done differently, a block cut at the wrong layer) then shows in the features, and so in
the FID. The square-root fallbacks of the FID formula are checked on hand-made matrices against
the closed form and against pytorch-fid's ``calculate_frechet_distance``.
"""

from __future__ import annotations

import warnings

import numpy as np
import pytest
import pytorch_fid.inception as pf_inception
import torch
from pytorch_fid.fid_score import calculate_frechet_distance

from ganzoo.errors import GanzooError
from ganzoo.metrics.distribution import FID, frechet_distance
from ganzoo.metrics.inception import FIDInceptionV3, fid_inception_v3


def random_fid_state(seed: int = 0) -> dict[str, torch.Tensor]:
    """A state dict of the FID network with O(1) activations all the way to pool3 (He-normal
    convs) and non-trivial batch norms, without num_batches_tracked, like the 2015 weights file."""
    g = torch.Generator().manual_seed(seed)
    net = fid_inception_v3()
    with torch.no_grad():
        for m in net.modules():
            if isinstance(m, torch.nn.Conv2d):
                fan_in = m.in_channels * m.kernel_size[0] * m.kernel_size[1]
                m.weight.normal_(0.0, (2.0 / fan_in) ** 0.5, generator=g)
            elif isinstance(m, torch.nn.BatchNorm2d):
                m.weight.uniform_(0.8, 1.2, generator=g)
                m.bias.uniform_(-0.1, 0.1, generator=g)
                m.running_mean.uniform_(-0.1, 0.1, generator=g)
                m.running_var.uniform_(0.5, 1.5, generator=g)
    return {k: v for k, v in net.state_dict().items() if not k.endswith("num_batches_tracked")}


@pytest.fixture(scope="module")
def same_weights(tmp_path_factory):
    """(path of the random weights file, pytorch-fid's InceptionV3 holding those weights, returning
    the 64-d block and pool3)."""
    state = random_fid_state()
    path = tmp_path_factory.mktemp("fid") / "pt_inception-random.pth"
    torch.save(state, path)
    with pytest.MonkeyPatch.context() as mp:
        # pytorch-fid's own builder, with only its download replaced by our state dict.
        mp.setattr(pf_inception, "load_state_dict_from_url", lambda *a, **k: state)
        theirs = pf_inception.InceptionV3([pf_inception.InceptionV3.BLOCK_INDEX_BY_DIM[d] for d in (64, 2048)])
        theirs.eval()
    return path, theirs


def test_pool3_features_match_pytorch_fid_with_identical_weights(same_weights):
    path, theirs = same_weights
    ours = FIDInceptionV3(path)  # resize 299, as pytorch-fid
    x = torch.rand(4, 3, 40, 48, generator=torch.Generator().manual_seed(1))
    with torch.no_grad():
        mine, ref = ours(x), theirs(x)[1].flatten(1)
    assert mine.shape == ref.shape == (4, 2048)
    assert ref.std() > 1e-2  # the random network does not collapse the features to ~0
    torch.testing.assert_close(mine, ref, rtol=1e-5, atol=1e-5)


def pooled(features: torch.Tensor) -> np.ndarray:
    """pytorch-fid's get_activations: a feature map is global-average pooled."""
    return torch.nn.functional.adaptive_avg_pool2d(features, (1, 1)).flatten(1).double().numpy()


def test_fid_matches_pytorch_fid_with_identical_weights(same_weights):
    # The 64-d block (pytorch-fid --dims 64): scipy's sqrtm of a 2048x2048 product takes a minute
    # here, the pool3 features themselves are compared above.
    path, theirs = same_weights
    g = torch.Generator().manual_seed(2)
    real = torch.rand(6, 3, 32, 32, generator=g) * 2 - 1  # ganzoo's images are in [-1, 1]
    fake = (real + 0.3 * torch.randn(real.shape, generator=g)).clamp(-1, 1)
    fid = FID(FID.Config(inception_weights=path, dims=64))
    fid.update(fake, real)
    ours = fid.compute()["fid"]
    with torch.no_grad():
        f_fake, f_real = pooled(theirs((fake + 1) / 2)[0]), pooled(theirs((real + 1) / 2)[0])
    stats = [(f.mean(axis=0), np.cov(f, rowvar=False)) for f in (f_fake, f_real)]
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # scipy's sqrtm(disp=...) deprecation, singular products
        reference = calculate_frechet_distance(*stats[0], *stats[1])
    assert ours > 1e-2  # two different sets, not a trivial 0 == 0
    assert ours == pytest.approx(reference, rel=1e-4)


# --------------------------------------------------------------------------- sqrtm fallbacks


def _reference_fd(*args, **kwargs):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return calculate_frechet_distance(*args, **kwargs)


def test_non_finite_sqrtm_retries_with_an_eps_offset(capsys):
    # S1 S2 = [[0, 1], [0, 0]] has no square root: scipy returns inf, so the root is retried on
    # (S1 + eps I)(S2 + eps I) = (1 + eps) [[eps, 1], [0, eps]], whose root has trace 2 sqrt(eps (1 + eps)).
    s1, s2 = np.array([[0.0, 1.0], [0.0, 0.0]]), np.eye(2)
    mu1, mu2 = np.array([1.0, 0.0]), np.array([0.0, 2.0])
    eps = 1e-2
    expected = 5.0 + 0.0 + 2.0 - 2 * 2 * np.sqrt(eps * (1 + eps))
    ours = frechet_distance(mu1, s1, mu2, s2, eps=eps, sqrt_method="sqrtm")
    assert ours == pytest.approx(expected, rel=1e-9)
    assert ours == pytest.approx(_reference_fd(mu1, s1, mu2, s2, eps=eps), rel=1e-9)
    capsys.readouterr()  # pytorch-fid prints its "singular product" note


def test_complex_sqrtm_keeps_the_real_part_or_fails_when_the_imaginary_part_is_large():
    mu = np.zeros(2)
    # sqrtm(diag(4, -1e-8)) = diag(2, 1e-4 i): a rounding-sized imaginary part is dropped.
    s1, s2 = np.diag([4.0, -1e-8]), np.eye(2)
    expected = (4.0 - 1e-8) + 2.0 - 2 * 2.0
    ours = frechet_distance(mu, s1, mu, s2, sqrt_method="sqrtm")
    assert ours == pytest.approx(expected, rel=1e-12)
    assert ours == pytest.approx(_reference_fd(mu, s1, mu, s2), rel=1e-12)
    # sqrtm(diag(4, -1)) = diag(2, i): not rounding, an error (pytorch-fid raises too).
    s1 = np.diag([4.0, -1.0])
    with pytest.raises(GanzooError, match="imaginary component"):
        frechet_distance(mu, s1, mu, s2, sqrt_method="sqrtm")
    with pytest.raises(ValueError, match="Imaginary component"):
        _reference_fd(mu, s1, mu, s2)


def test_sqrt_methods_on_singular_covariances():
    # Rank-deficient PSD covariances (fewer images than dimensions): tr sqrt(S1 S2) = sqrt(4 * 1) = 2.
    mu1, mu2 = np.array([0.0, 0.0, 1.0]), np.array([0.0, 3.0, 1.0])
    s1, s2 = np.diag([4.0, 0.0, 0.0]), np.diag([1.0, 9.0, 0.0])
    expected = 9.0 + 4.0 + 10.0 - 2 * 2.0
    for method in ("sqrtm", "eigh"):
        assert frechet_distance(mu1, s1, mu2, s2, sqrt_method=method) == pytest.approx(expected, rel=1e-9)
    assert _reference_fd(mu1, s1, mu2, s2) == pytest.approx(expected, rel=1e-9)
    # Rotated apart (S1 and S2 no longer commute, S1 S2 is not symmetric): eigh's symmetric route
    # agrees with scipy's sqrtm and with pytorch-fid.
    rng = np.random.default_rng(0)
    q1, q2 = (np.linalg.qr(rng.normal(size=(3, 3)))[0] for _ in range(2))
    r1, r2 = q1 @ s1 @ q1.T, q2 @ s2 @ q2.T
    reference = _reference_fd(mu1, r1, mu2, r2)
    values = [frechet_distance(mu1, r1, mu2, r2, sqrt_method=m) for m in ("sqrtm", "eigh")]
    assert values == pytest.approx([reference, reference], rel=1e-6)
    assert abs(reference - expected) > 0.1  # the rotation did change the distance
    with pytest.raises(GanzooError, match="unknown sqrt_method"):
        frechet_distance(mu1, s1, mu2, s2, sqrt_method="svd")
