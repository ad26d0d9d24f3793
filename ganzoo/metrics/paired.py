"""Metrics against ground truth, for data sets whose test split is paired (``dataset.paired``).

The functions :func:`psnr` and :func:`l1` are the trainer's cheap in-loop checks; the
:class:`PSNR`, :class:`SSIM` and :class:`LPIPS` metrics are the evaluation's, computed per image
and averaged over images (never over one concatenated batch, which would weight large or
badly translated images differently), on images mapped from [-1, 1] to [0, 1].
"""

from __future__ import annotations

import os
import re
import warnings
from pathlib import Path
from typing import Any, ClassVar, Literal

import torch
from pydantic import Field
from torch import Tensor

from ganzoo.errors import GanzooError
from ganzoo.metrics.base import Metric, MetricConfig
from ganzoo.metrics.weights import CATALOG, find_weights, hub_checkpoints_dir


def psnr(output: Tensor, target: Tensor, data_range: float = 2.0) -> Tensor:
    """Mean PSNR (dB) over a batch of images in [-1, 1] (hence range 2), per image then averaged."""
    mse = (output.float() - target.float()).pow(2).flatten(1).mean(1).clamp_min(1e-12)
    return (10 * torch.log10(data_range**2 / mse)).mean()


def l1(output: Tensor, target: Tensor) -> Tensor:
    return (output.float() - target.float()).abs().mean()


def _check_pair(name: str, output: Tensor, target: Tensor | None) -> Tensor:
    if target is None:
        raise GanzooError(f"{name} needs the ground truth of every output (a paired test split)")
    if output.shape != target.shape:
        raise GanzooError(f"{name}: output {tuple(output.shape)} and target {tuple(target.shape)} differ in shape")
    return target


class _MeanOverImages(Metric):
    """Accumulates a per-image score and reports its mean over images."""

    needs_pairs = True
    key: ClassVar[str] = ""

    def reset(self) -> None:
        self._sum, self._count = 0.0, 0

    def update(self, output: Tensor, target: Tensor | None = None) -> None:
        target = _check_pair(type(self).__name__, output, target)
        scores = self.per_image(output.float(), target.float())
        self._sum += float(scores.double().sum())
        self._count += scores.numel()

    def per_image(self, output: Tensor, target: Tensor) -> Tensor:
        raise NotImplementedError

    def compute(self) -> dict[str, float]:
        if not self._count:
            raise GanzooError(f"{type(self).__name__}: no images were scored")
        return {self.key: self._sum / self._count}


class PSNRConfig(MetricConfig):
    pass


class PSNR(_MeanOverImages):
    """Peak signal-to-noise ratio to the ground truth in dB (kornia), per image, averaged (higher is better).

    On [0, 1] images with max 1, which equals [-1, 1] with range 2. Identical images would be
    infinite; their MSE is floored at 1e-10 (100 dB) so that one perfect image cannot make the
    mean infinite.
    """

    Config = PSNRConfig
    key = "psnr"
    higher_is_better: ClassVar[dict[str, bool]] = {"psnr": True}

    def per_image(self, output: Tensor, target: Tensor) -> Tensor:
        from kornia.metrics import psnr as kornia_psnr

        a, b = (output + 1) / 2, (target + 1) / 2
        scores = [kornia_psnr(x[None], y[None], 1.0) for x, y in zip(a, b, strict=True)]
        return torch.stack(scores).clamp_max(100.0)

    def protocol(self) -> dict[str, Any]:
        return {"psnr": "kornia.metrics.psnr per image on [0, 1], max 1, capped at 100 dB, mean over images"}


class SSIMConfig(MetricConfig):
    window_size: int = Field(11, ge=3, description="Side of the Gaussian window (sigma 1.5); odd.")


class SSIM(_MeanOverImages):
    """Structural similarity to the ground truth (kornia, 11x11 Gaussian window of sigma 1.5,
    'valid' region as Wang et al. and TensorFlow), per image, averaged (higher is better)."""

    Config = SSIMConfig
    key = "ssim"
    higher_is_better: ClassVar[dict[str, bool]] = {"ssim": True}

    def per_image(self, output: Tensor, target: Tensor) -> Tensor:
        from kornia.metrics import ssim as kornia_ssim

        window = self.config.window_size
        if window % 2 == 0:
            raise GanzooError(f"SSIM: window_size must be odd, got {window}")
        if min(output.shape[-2:]) < window:
            raise GanzooError(f"SSIM: images of {tuple(output.shape[-2:])} px are smaller than the {window}x{window} "
                              "window; lower ssim.window_size")
        a, b = (output + 1) / 2, (target + 1) / 2
        return kornia_ssim(a, b, window, max_val=1.0, padding="valid").flatten(1).mean(1)

    def protocol(self) -> dict[str, Any]:
        w = self.config.window_size
        return {"ssim": f"kornia.metrics.ssim on [0, 1], {w}x{w} Gaussian window (sigma 1.5), valid region, "
                        "mean over channels and pixels, then over images"}


# --------------------------------------------------------------------------- LPIPS

LPIPS_BACKBONES = {net: (arch, CATALOG[f"lpips-{net}"].filename)
                   for net, arch in (("alex", "alexnet"), ("vgg", "vgg16"), ("squeeze", "squeezenet1_1"))}
LPIPS_WEIGHTS_ENV = "GANZOO_LPIPS_BACKBONE"


def lpips_backbone_candidates(net: str, path: str | Path | None = None) -> list[Path]:
    """Where the torchvision backbone of LPIPS is looked for: ``path``, $GANZOO_LPIPS_BACKBONE,
    torch hub's checkpoint cache (where torchvision downloads it)."""
    filename = LPIPS_BACKBONES[net][1]
    candidates = [Path(path).expanduser()] if path else []
    if os.environ.get(LPIPS_WEIGHTS_ENV):
        candidates.append(Path(os.environ[LPIPS_WEIGHTS_ENV]).expanduser())
    candidates.append(hub_checkpoints_dir() / filename)
    return candidates


def resolve_lpips_backbone(net: str, path: str | Path | None = None) -> Path:
    filename = LPIPS_BACKBONES[net][1]
    url = CATALOG[f"lpips-{net}"].url
    return find_weights(
        lpips_backbone_candidates(net, path), explicit=bool(path), label="LPIPS backbone",
        needs=f"LPIPS ({net}) needs torchvision's ImageNet weights {filename}", url=url,
        option="--lpips-weights", env=LPIPS_WEIGHTS_ENV,
    )


def build_lpips(net: str = "alex", backbone: str | Path | None = None, *, random_backbone: bool = False,
                seed: int = 0) -> torch.nn.Module:
    """``lpips.LPIPS`` with its linear calibration layers (shipped in the lpips package) and the
    torchvision backbone read from a local file rather than downloaded behind the user's back.

    The backbone file is a torchvision state dict (``features.<i>.*``); lpips splits
    ``features`` into ``slice<k>`` Sequentials that keep the index ``i`` as module name, so
    ``slice<k>.<i>.*`` maps back to ``features.<i>.*`` exactly.
    """
    import lpips

    path = None if random_backbone else resolve_lpips_backbone(net, backbone)
    with warnings.catch_warnings(), torch.random.fork_rng(devices=[]):
        warnings.simplefilter("ignore")  # torchvision's 'pretrained is deprecated' from inside lpips
        torch.manual_seed(seed)
        model = lpips.LPIPS(net=net, pretrained=True, pnet_rand=True, verbose=False)
    model.backbone_path = path  # type: ignore[attr-defined]
    if path is not None:
        try:
            state = torch.load(path, map_location="cpu", weights_only=True)
        except Exception as exc:  # noqa: BLE001
            raise GanzooError(f"{path}: cannot be read as a torchvision state dict ({type(exc).__name__})") from None
        own = model.net.state_dict()
        mapped, missing = {}, []
        for key in own:
            match = re.fullmatch(r"slice\d+\.(\d+)\.(.+)", key)
            source = f"features.{match.group(1)}.{match.group(2)}" if match else key
            if source in state:
                mapped[key] = state[source]
            else:
                missing.append(source)
        if missing:
            raise GanzooError(f"{path}: not the {LPIPS_BACKBONES[net][0]} weights LPIPS ({net}) needs "
                              f"(missing {missing[:3]})")
        model.net.load_state_dict(mapped, strict=True)
    return model.eval().requires_grad_(False)


class LPIPSConfig(MetricConfig):
    net: Literal["alex", "vgg", "squeeze"] = Field(
        "alex", description="Backbone; 'alex' is what LPIPS numbers in papers use (lpips v0.1)."
    )
    backbone_weights: Path | None = Field(
        None, description="torchvision ImageNet weights of the backbone; unset: $GANZOO_LPIPS_BACKBONE, then "
        "torch hub's checkpoints folder."
    )
    random_backbone: bool = Field(False, description="Tests only: a random backbone; scores compare with nothing.")
    seed: int = Field(0, description="Seed of the random backbone.")


_LPIPS_CACHE: dict[tuple, torch.nn.Module] = {}


class LPIPS(_MeanOverImages):
    """Learned perceptual distance to the ground truth (Zhang et al. 2018, lpips v0.1), per image,
    averaged (lower is better)."""

    Config = LPIPSConfig
    key = "lpips"
    higher_is_better: ClassVar[dict[str, bool]] = {"lpips": False}

    def check(self) -> None:
        if not self.config.random_backbone:
            resolve_lpips_backbone(self.config.net, self.config.backbone_weights)

    def model(self) -> torch.nn.Module:
        c = self.config
        key = (c.net, str(c.backbone_weights), c.random_backbone, c.seed, str(self.device))
        if key not in _LPIPS_CACHE:
            _LPIPS_CACHE[key] = build_lpips(c.net, c.backbone_weights, random_backbone=c.random_backbone,
                                            seed=c.seed).to(self.device)
        return _LPIPS_CACHE[key]

    @torch.no_grad()
    def per_image(self, output: Tensor, target: Tensor) -> Tensor:
        model, bs = self.model(), self.config.batch_size
        try:
            scores = [model(o.to(self.device), t.to(self.device)).flatten().cpu()
                      for o, t in zip(output.split(bs), target.split(bs), strict=True)]
        except RuntimeError as exc:
            if "too small" not in str(exc):
                raise
            raise GanzooError(f"LPIPS ({self.config.net}) cannot score images of {tuple(output.shape[-2:])} px: "
                              "its backbone's pooling needs more (alex: at least 31 px)") from None
        return torch.cat(scores)

    def protocol(self) -> dict[str, Any]:
        c = self.config
        path = getattr(self.model(), "backbone_path", None)
        from ganzoo.metrics.inception import file_sha256

        return {"lpips": f"lpips v0.1 {c.net}, inputs in [-1, 1] at their own size, spatial mean, mean over images"
                         + (" RANDOM BACKBONE" if c.random_backbone else ""),
                "lpips_backbone": str(path) if path else None,
                "lpips_backbone_sha256": file_sha256(path) if path else None}
