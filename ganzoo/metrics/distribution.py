"""Distribution metrics on Inception features: FID (Heusel et al. 2017) and KID (Binkowski et al. 2018).

Both compare the *set* of translated images with the set of real images of the target domain,
so they need no pairs, which is what unpaired translation is judged by. The maths follows the
implementations that published numbers come from:

* FID as pytorch-fid: Gaussian statistics (mean, unbiased covariance) of the 2048-d pool3
  features and ``|mu1 - mu2|^2 + tr(S1 + S2 - 2 sqrtm(S1 S2))``, the square root taken by
  ``scipy.linalg.sqrtm`` with pytorch-fid's fallbacks (an ``eps`` offset when it is not finite,
  the real part when the result is complex). ``sqrt_method="eigh"`` computes the same trace
  from the eigenvalues of ``sqrt(S1) S2 sqrt(S1)`` instead: symmetric, so faster and stable
  on the rank-deficient covariances of small sets; the two agree to ~1e-6 relative on
  well-conditioned statistics.
* KID as clean-fid / torch-fidelity: the unbiased MMD^2 estimate with the cubic polynomial
  kernel ``k(x, y) = (x.y / d + 1)^3``, averaged over random subsets (100 subsets of
  ``min(1000, n_real, n_fake)`` features, drawn without replacement) and reported with the
  standard deviation over subsets. Unlike FID it is unbiased, so it compares across set sizes.
"""

from __future__ import annotations

import warnings
from pathlib import Path
from typing import Any, ClassVar, Literal

import numpy as np
import torch
from pydantic import Field
from torch import Tensor

from ganzoo.errors import GanzooError
from ganzoo.metrics.base import Metric, MetricConfig

SqrtMethod = Literal["sqrtm", "eigh"]


# --------------------------------------------------------------------------- maths


def feature_statistics(features: np.ndarray | Tensor) -> tuple[np.ndarray, np.ndarray]:
    """(mean, covariance) of (N, D) features in float64; the covariance is unbiased (N - 1),
    as ``np.cov`` in pytorch-fid."""
    feats = np.asarray(features.cpu() if isinstance(features, Tensor) else features, dtype=np.float64)
    if feats.ndim != 2 or feats.shape[0] < 2:
        raise GanzooError(f"FID needs at least 2 images per set, got features of shape {feats.shape}")
    return feats.mean(axis=0), np.cov(feats, rowvar=False)


def _trace_sqrt_product_sqrtm(sigma1: np.ndarray, sigma2: np.ndarray, eps: float) -> float:
    from scipy import linalg

    with warnings.catch_warnings():
        # Fewer images than feature dimensions make the product singular; like pytorch-fid,
        # go on and retry with an eps offset only if the root is not finite.
        warnings.simplefilter("ignore", linalg.LinAlgWarning)
        covmean = linalg.sqrtm(sigma1.dot(sigma2))
        if not np.isfinite(covmean).all():
            offset = np.eye(sigma1.shape[0]) * eps
            covmean = linalg.sqrtm((sigma1 + offset).dot(sigma2 + offset))
    if np.iscomplexobj(covmean):
        if not np.allclose(np.diagonal(covmean).imag, 0, atol=1e-3):
            raise GanzooError(
                f"FID: the matrix square root has a large imaginary component ({np.max(np.abs(covmean.imag)):.3g}); "
                "too few images for the feature dimension? try sqrt_method='eigh'"
            )
        covmean = covmean.real
    return float(np.trace(covmean))


def _trace_sqrt_product_eigh(sigma1: np.ndarray, sigma2: np.ndarray) -> float:
    # tr sqrt(S1 S2) = tr sqrt(sqrt(S1) S2 sqrt(S1)): S1 S2 is similar to that symmetric PSD matrix.
    w, v = np.linalg.eigh(sigma1)
    root1 = (v * np.sqrt(np.clip(w, 0, None))) @ v.T
    middle = root1 @ sigma2 @ root1
    eig = np.linalg.eigvalsh((middle + middle.T) / 2)
    return float(np.sqrt(np.clip(eig, 0, None)).sum())


def frechet_distance(
    mu1: np.ndarray, sigma1: np.ndarray, mu2: np.ndarray, sigma2: np.ndarray,
    *, eps: float = 1e-6, sqrt_method: SqrtMethod = "sqrtm",
) -> float:
    """The Frechet distance between N(mu1, sigma1) and N(mu2, sigma2) (pytorch-fid's formula)."""
    mu1, mu2 = np.atleast_1d(mu1).astype(np.float64), np.atleast_1d(mu2).astype(np.float64)
    sigma1, sigma2 = np.atleast_2d(sigma1).astype(np.float64), np.atleast_2d(sigma2).astype(np.float64)
    if mu1.shape != mu2.shape or sigma1.shape != sigma2.shape:
        raise GanzooError(f"FID: statistics of different dimensions ({mu1.shape} vs {mu2.shape})")
    diff = mu1 - mu2
    if sqrt_method == "sqrtm":
        tr_covmean = _trace_sqrt_product_sqrtm(sigma1, sigma2, eps)
    elif sqrt_method == "eigh":
        tr_covmean = _trace_sqrt_product_eigh(sigma1, sigma2)
    else:
        raise GanzooError(f"FID: unknown sqrt_method '{sqrt_method}' (sqrtm, eigh)")
    return float(diff.dot(diff) + np.trace(sigma1) + np.trace(sigma2) - 2 * tr_covmean)


def fid_from_features(features1: np.ndarray | Tensor, features2: np.ndarray | Tensor,
                      *, sqrt_method: SqrtMethod = "sqrtm") -> float:
    mu1, s1 = feature_statistics(features1)
    mu2, s2 = feature_statistics(features2)
    return frechet_distance(mu1, s1, mu2, s2, sqrt_method=sqrt_method)


def polynomial_kernel(x: np.ndarray, y: np.ndarray, degree: int = 3, coef0: float = 1.0) -> np.ndarray:
    """``(x y^T / d + coef0) ** degree``, the kernel KID is defined with (gamma = 1/d)."""
    return (x @ y.T / x.shape[1] + coef0) ** degree


def mmd2_unbiased(k_xx: np.ndarray, k_yy: np.ndarray, k_xy: np.ndarray) -> float:
    """Unbiased MMD^2 from kernel matrices of two samples of equal size m: the within-set means
    leave out the diagonal (k(x, x)), the cross term keeps every pair."""
    m = k_xx.shape[0]
    within = (k_xx.sum() - np.trace(k_xx) + k_yy.sum() - np.trace(k_yy)) / (m * (m - 1))
    return float(within - 2 * k_xy.sum() / (m * m))


def kernel_inception_distance(
    features1: np.ndarray | Tensor, features2: np.ndarray | Tensor,
    *, num_subsets: int = 100, subset_size: int = 1000, seed: int = 0,
) -> tuple[float, float]:
    """(mean, std) of the unbiased MMD^2 over ``num_subsets`` random subsets of
    ``min(subset_size, n1, n2)`` features from each set (without replacement, seeded)."""
    f1 = np.asarray(features1.cpu() if isinstance(features1, Tensor) else features1, dtype=np.float64)
    f2 = np.asarray(features2.cpu() if isinstance(features2, Tensor) else features2, dtype=np.float64)
    m = min(subset_size, f1.shape[0], f2.shape[0])
    if m < 2:
        raise GanzooError(f"KID needs at least 2 images per set, got {f1.shape[0]} and {f2.shape[0]}")
    rng = np.random.RandomState(seed)
    values = np.empty(num_subsets)
    for i in range(num_subsets):
        x = f1[rng.choice(f1.shape[0], m, replace=False)]
        y = f2[rng.choice(f2.shape[0], m, replace=False)]
        values[i] = mmd2_unbiased(polynomial_kernel(x, x), polynomial_kernel(y, y), polynomial_kernel(x, y))
    return float(values.mean()), float(values.std())


# --------------------------------------------------------------------------- metrics


class InceptionMetricConfig(MetricConfig):
    inception_weights: Path | None = Field(
        None,
        description="pytorch-fid's pt_inception-2015-12-05-6726825d.pth; unset: $GANZOO_INCEPTION_WEIGHTS, "
        "then torch hub's checkpoints folder.",
    )
    dims: Literal[64, 192, 768, 2048] = Field(
        2048, description="Feature block (pytorch-fid --dims); 2048 (pool3) is what papers report."
    )
    resize: int | None = Field(
        299, ge=75,
        description="Side images are resized to (bilinear) before the network; 299 as pytorch-fid. "
        "Change it only for tests: it changes the scores.",
    )
    random_weights: bool = Field(
        False, description="Tests only: a randomly initialised network (seeded); scores compare with nothing."
    )
    seed: int = Field(0, description="Seed of the random network (random_weights) and of KID's subsets.")


class _InceptionMetric(Metric):
    """Accumulates Inception features of outputs and of real target images."""

    Config = InceptionMetricConfig
    needs_pairs = False
    needs_target = True

    def __init__(self, config: InceptionMetricConfig | None = None):
        super().__init__(config)
        self._extractor = None

    def reset(self) -> None:
        self._fake: list[Tensor] = []
        self._real: list[Tensor] = []

    def check(self) -> None:
        self._weights()

    def _weights(self) -> Path | None:
        from ganzoo.metrics.inception import resolve_inception_weights

        c = self.config
        return None if c.random_weights else resolve_inception_weights(c.inception_weights)

    def extractor(self):
        if self._extractor is None or self._extractor.device != self.device:
            from ganzoo.metrics.inception import feature_extractor

            c = self.config
            self._extractor = feature_extractor(self._weights(), dims=c.dims, resize=c.resize, seed=c.seed,
                                                device=self.device, batch_size=c.batch_size)
        return self._extractor

    def update(self, output: Tensor, target: Tensor | None = None) -> None:
        extract = self.extractor()
        self._fake.append(extract(output))
        if target is not None:
            self._real.append(extract(target))

    def _features(self) -> tuple[Tensor, Tensor]:
        if not self._real:
            raise GanzooError(f"{type(self).__name__}: no real target images were given to compare with")
        return torch.cat(self._fake), torch.cat(self._real)

    def protocol(self) -> dict[str, Any]:
        c = self.config
        net = self.extractor().net
        return {
            "network": "pytorch-fid InceptionV3 (FID variant)" + (" RANDOM WEIGHTS" if c.random_weights else ""),
            "weights": str(net.weights_path) if net.weights_path else None,
            "weights_sha256": net.sha256,
            "features": f"{c.dims}-d, global average pool",
            "resize": f"bilinear to {c.resize}x{c.resize} (align_corners=False, no antialias), then [-1, 1]"
            if c.resize else "none",
        }


class FIDConfig(InceptionMetricConfig):
    sqrt_method: SqrtMethod = Field(
        "sqrtm", description="Matrix square root: sqrtm (scipy, as pytorch-fid) or eigh (symmetric eigenvalues)."
    )


class FID(_InceptionMetric):
    """Frechet Inception Distance to the real target images, computed as pytorch-fid (lower is better).

    Biased for small sets (it shrinks as the sets grow): compare FIDs of equal set sizes only.
    """

    Config = FIDConfig
    higher_is_better: ClassVar[dict[str, bool]] = {"fid": False}

    def compute(self) -> dict[str, float]:
        fake, real = self._features()
        return {"fid": fid_from_features(fake, real, sqrt_method=self.config.sqrt_method)}

    def protocol(self) -> dict[str, Any]:
        return {**super().protocol(), "sqrt": self.config.sqrt_method}


class KIDConfig(InceptionMetricConfig):
    num_subsets: int = Field(100, gt=0, description="Random subsets the estimate is averaged over.")
    subset_size: int = Field(1000, gt=1, description="Features per subset, capped to the smaller set.")


class KID(_InceptionMetric):
    """Kernel Inception Distance to the real target images (clean-fid / torch-fidelity's estimate; lower
    is better); ``kid`` is the mean over subsets, ``kid_std`` their standard deviation.

    Unbiased, so unlike FID it can be compared across set sizes and can be slightly negative.
    """

    Config = KIDConfig
    higher_is_better: ClassVar[dict[str, bool]] = {"kid": False}

    def compute(self) -> dict[str, float]:
        fake, real = self._features()
        c = self.config
        mean, std = kernel_inception_distance(fake, real, num_subsets=c.num_subsets, subset_size=c.subset_size,
                                              seed=c.seed)
        return {"kid": mean, "kid_std": std}

    def protocol(self) -> dict[str, Any]:
        c = self.config
        size = min(c.subset_size, sum(len(f) for f in self._fake), sum(len(f) for f in self._real))
        return {**super().protocol(), "kid": f"{c.num_subsets} subsets of {size}, cubic polynomial kernel, "
                                              f"unbiased MMD^2, seed {c.seed}"}
