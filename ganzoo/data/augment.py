"""Augmentation of whole batches on the device (GPU or CPU), differentiable, paired-aware.

Per-image PIL augmentation in DataLoader workers costs CPU time per pixel; once a batch is on
the GPU the same work is a few tensor ops for the whole batch. Two families are offered:

* DiffAugment's policies (Zhao et al. 2020, "Differentiable Augmentation for Data-Efficient GAN
  Training"): ``color`` (random brightness, saturation, contrast), ``translation`` (shift by up
  to 1/8 of the side, zero fill) and ``cutout`` (a zeroed square of half the side). They are
  differentiable, so a recipe may apply them to real *and* generated images in front of the
  discriminator, which is what makes them work with little data.
* kornia-based ``jitter`` (brightness, contrast, saturation, hue) and ``affine`` (rotation,
  translation, scale, shear), plus ``flip``: ordinary data augmentation.

Images are in [-1, 1] (NCHW) as everywhere in ganzoo. Random parameters are drawn on the CPU
(from ``seed``'s own generator, or torch's global one, which the engine seeds and
checkpoints), so results do not depend on the device; one draw is applied to every tensor
passed in one call, which keeps A and B of paired data aligned.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any, Literal

import torch
import torch.nn.functional as F
from pydantic import Field, field_validator, model_validator
from torch import Tensor

from ganzoo.config import ComponentConfig

AugmentOp = Literal["color", "translation", "cutout", "jitter", "affine", "flip"]
AUGMENT_OPS: tuple[str, ...] = ("color", "translation", "cutout", "jitter", "affine", "flip")
DIFFAUGMENT_POLICY = "color,translation,cutout"
"""The policy of the DiffAugment paper's main results."""


class AugmentConfig(ComponentConfig):
    """Which batch augmentations run, in order, and how strong they are."""

    policy: list[AugmentOp] = Field(
        default_factory=list,
        description=(
            "Operations in the order applied, as a list or a comma-separated string like DiffAugment's "
            "\"color,translation,cutout\"; also jitter, affine, flip. Empty: no augmentation."
        ),
    )
    p: float = Field(1.0, ge=0, le=1, description="Probability that each operation is applied to a given image.")
    translation_ratio: float = Field(
        0.125, gt=0, le=0.5, description="translation: largest shift as a fraction of the side (DiffAugment: 1/8)."
    )
    cutout_ratio: float = Field(
        0.5, gt=0, le=1, description="cutout: side of the zeroed square as a fraction of the image side (0.5)."
    )
    brightness: float = Field(
        0.2, ge=0, le=1, description="jitter: brightness offset drawn from [-b, b] (in [0, 1] units)."
    )
    contrast: float = Field(0.2, ge=0, le=1, description="jitter: contrast factor drawn from [1-c, 1+c].")
    saturation: float = Field(
        0.2, ge=0, le=1, description="jitter: saturation factor drawn from [1-s, 1+s] (RGB only)."
    )
    hue: float = Field(0.05, ge=0, le=0.5, description="jitter: hue shift drawn from [-h, h] turns (RGB only).")
    degrees: float = Field(10.0, ge=0, le=180, description="affine: rotation drawn from [-d, d] degrees.")
    translate: float = Field(0.1, ge=0, le=1, description="affine: shift drawn from [-t, t] of the width/height.")
    scale: tuple[float, float] = Field((0.9, 1.1), description="affine: zoom factor drawn from [lo, hi].")
    shear: float = Field(0.0, ge=0, le=45, description="affine: shear drawn from [-s, s] degrees, x and y.")
    padding: Literal["zeros", "border", "reflection"] = Field(
        "reflection", description="affine: how pixels coming from outside the image are filled."
    )
    clamp: bool = Field(True, description="Clamp the result to [-1, 1] (color and jitter can leave it).")
    seed: int | None = Field(
        None, description="Seed of the augmentation's own random generator; None: torch's global generator."
    )

    @field_validator("policy", mode="before")
    @classmethod
    def _split_policy(cls, value: Any) -> Any:
        if isinstance(value, str):
            return [part.strip() for part in value.split(",") if part.strip()]
        return value

    @model_validator(mode="after")
    def _scale_order(self) -> AugmentConfig:
        lo, hi = self.scale
        if not 0 < lo <= hi:
            raise ValueError(f"scale must be (lo, hi) with 0 < lo <= hi, got {self.scale}")
        return self


def _uniform(n: int, lo: float, hi: float, g: torch.Generator | None) -> Tensor:
    return lo + (hi - lo) * torch.rand(n, generator=g)


def _view(t: Tensor, x: Tensor) -> Tensor:
    """A per-image parameter (N,) as (N, 1, 1, 1) on x's device and dtype."""
    return t.to(device=x.device, dtype=x.dtype, non_blocking=True).view(-1, 1, 1, 1)


class BatchAugment:
    """``BatchAugment(config)(images)`` -> augmented images of the same shape, on their device.

    ``aug(a, b)`` applies the *same* random transform to ``a`` and ``b`` (same N, H, W; the
    channels may differ) and returns both: that is how paired data stays aligned. Every
    operation is differentiable, so it can also sit between a generator and a discriminator
    (DiffAugment). With an empty policy it returns its inputs untouched at no cost.
    """

    def __init__(self, config: AugmentConfig | Mapping[str, Any] | None = None, *, seed: int | None = None):
        if config is None:
            config = AugmentConfig()
        elif not isinstance(config, AugmentConfig):
            config = AugmentConfig.model_validate(dict(config))
        self.config = config
        self.p = config.p
        """Probability of each operation per image; adaptive augmentation (ADA) changes it as it trains."""
        seed = config.seed if seed is None else seed
        self.generator: torch.Generator | None = None if seed is None else torch.Generator().manual_seed(seed)

    @property
    def enabled(self) -> bool:
        return bool(self.config.policy) and self.p > 0

    def __repr__(self) -> str:
        return f"{type(self).__name__}(policy={','.join(self.config.policy) or 'none'}, p={self.p})"

    # ------------------------------------------------------------ public calls

    def __call__(self, x: Tensor, *others: Tensor) -> Any:
        """Augment ``x`` (N, C, H, W); tensors in ``others`` get the same transform.

        Returns a tensor for one input, a tuple for several.
        """
        tensors = [x, *others]
        if not self.enabled:
            return x if not others else tuple(tensors)
        n, _, h, w = self._check(tensors)
        for op in self.config.policy:
            params = getattr(self, f"_sample_{op}")(n, h, w)
            tensors = [getattr(self, f"_apply_{op}")(t, params) for t in tensors]
        if self.config.clamp:
            tensors = [t.clamp(-1.0, 1.0) for t in tensors]
        return tensors[0] if not others else tuple(tensors)

    def apply_batch(self, batch: Mapping[str, Any], *, paired: bool, keys: Sequence[str] = ("A", "B")) -> dict:
        """A copy of ``batch`` with its image tensors augmented: with one shared draw when
        ``paired`` (A and B show the same scene), independently otherwise."""
        out = dict(batch)
        if not self.enabled:
            return out
        present = [k for k in keys if isinstance(batch.get(k), Tensor) and batch[k].dim() == 4]
        same_grid = len({(batch[k].shape[0], *batch[k].shape[2:]) for k in present}) == 1
        if paired and len(present) > 1 and same_grid:
            results = self(*[batch[k] for k in present])
            out.update(zip(present, results, strict=True))
        else:
            for k in present:
                out[k] = self(batch[k])
        return out

    # ------------------------------------------------------------ helpers

    @staticmethod
    def _check(tensors: Sequence[Tensor]) -> tuple[int, int, int, int]:
        first = tensors[0]
        if first.dim() != 4:
            raise ValueError(f"BatchAugment expects NCHW batches, got shape {tuple(first.shape)}")
        n, c, h, w = first.shape
        for t in tensors[1:]:
            if t.dim() != 4 or t.shape[0] != n or t.shape[2:] != first.shape[2:]:
                raise ValueError(f"tensors augmented together must share N, H and W: {tuple(first.shape)} vs "
                                 f"{tuple(t.shape)}")
        return n, c, h, w

    def _applies(self, n: int) -> Tensor:
        """(N,) bool: which images this operation touches (probability p)."""
        if self.p >= 1.0:
            return torch.ones(n, dtype=torch.bool)
        return torch.rand(n, generator=self.generator) < self.p

    # ------------------------------------------------------------ DiffAugment: color

    def _sample_color(self, n: int, h: int, w: int) -> dict[str, Tensor]:
        g, on = self.generator, self._applies(n)
        brightness = torch.rand(n, generator=g) - 0.5
        saturation = torch.rand(n, generator=g) * 2.0
        contrast = torch.rand(n, generator=g) + 0.5
        return {
            "brightness": torch.where(on, brightness, 0.0),
            "saturation": torch.where(on, saturation, 1.0),
            "contrast": torch.where(on, contrast, 1.0),
        }

    @staticmethod
    def _apply_color(x: Tensor, p: dict[str, Tensor]) -> Tensor:
        x = x + _view(p["brightness"], x)
        mean = x.mean(dim=1, keepdim=True)
        x = (x - mean) * _view(p["saturation"], x) + mean
        mean = x.mean(dim=(1, 2, 3), keepdim=True)
        return (x - mean) * _view(p["contrast"], x) + mean

    # ------------------------------------------------------------ DiffAugment: translation

    def _sample_translation(self, n: int, h: int, w: int) -> dict[str, Any]:
        g, on = self.generator, self._applies(n)
        sh, sw = int(h * self.config.translation_ratio + 0.5), int(w * self.config.translation_ratio + 0.5)
        ty = torch.randint(-sh, sh + 1, (n,), generator=g) * on
        tx = torch.randint(-sw, sw + 1, (n,), generator=g) * on
        return {"ty": ty, "tx": tx, "pad": (sh, sw)}

    @staticmethod
    def _apply_translation(x: Tensor, p: dict[str, Any]) -> Tensor:
        n, _, h, w = x.shape
        sh, sw = p["pad"]
        if sh == 0 and sw == 0:
            return x
        padded = F.pad(x, [sw, sw, sh, sh])  # zeros: DiffAugment's fill
        ty, tx = p["ty"].to(x.device), p["tx"].to(x.device)
        rows = torch.arange(h, device=x.device)[None, :] + sh - ty[:, None]  # (N, H): output row r reads r - ty
        cols = torch.arange(w, device=x.device)[None, :] + sw - tx[:, None]
        batch = torch.arange(n, device=x.device)[:, None, None]
        out = padded.permute(0, 2, 3, 1)[batch, rows[:, :, None], cols[:, None, :]]  # (N, H, W, C)
        return out.permute(0, 3, 1, 2)

    # ------------------------------------------------------------ DiffAugment: cutout

    def _sample_cutout(self, n: int, h: int, w: int) -> dict[str, Any]:
        g, on = self.generator, self._applies(n)
        ch, cw = int(h * self.config.cutout_ratio + 0.5), int(w * self.config.cutout_ratio + 0.5)
        # Centres may lie anywhere, so the square can be partly outside (as in DiffAugment).
        cy = torch.randint(0, h + (1 - ch % 2), (n,), generator=g)
        cx = torch.randint(0, w + (1 - cw % 2), (n,), generator=g)
        return {"top": cy - ch // 2, "left": cx - cw // 2, "size": (ch, cw), "on": on}

    @staticmethod
    def _apply_cutout(x: Tensor, p: dict[str, Any]) -> Tensor:
        _, _, h, w = x.shape
        ch, cw = p["size"]
        top, left, on = (p[k].to(x.device)[:, None] for k in ("top", "left", "on"))
        rows = torch.arange(h, device=x.device)[None, :]
        cols = torch.arange(w, device=x.device)[None, :]
        in_rows = (rows >= top) & (rows < top + ch)  # (N, H)
        in_cols = (cols >= left) & (cols < left + cw)  # (N, W)
        cut = in_rows[:, :, None] & in_cols[:, None, :] & on[:, :, None]
        return x * (~cut).to(x.dtype)[:, None]

    # ------------------------------------------------------------ kornia: colour jitter

    def _sample_jitter(self, n: int, h: int, w: int) -> dict[str, Tensor]:
        c, g, on = self.config, self.generator, self._applies(n)
        return {
            "brightness": torch.where(on, _uniform(n, -c.brightness, c.brightness, g), 0.0),
            "contrast": torch.where(on, _uniform(n, 1 - c.contrast, 1 + c.contrast, g), 1.0),
            "saturation": torch.where(on, _uniform(n, 1 - c.saturation, 1 + c.saturation, g), 1.0),
            "hue": torch.where(on, _uniform(n, -c.hue, c.hue, g), 0.0),
        }

    @staticmethod
    def _apply_jitter(x: Tensor, p: dict[str, Tensor]) -> Tensor:
        from kornia import enhance

        def factor(name: str) -> Tensor:
            return p[name].to(device=x.device, dtype=x.dtype, non_blocking=True)

        y = (x + 1.0) * 0.5  # kornia works in [0, 1]
        y = enhance.adjust_brightness(y, factor("brightness"))
        y = enhance.adjust_contrast_with_mean_subtraction(y, factor("contrast"))
        if y.shape[1] == 3:  # saturation and hue need colour
            y = enhance.adjust_saturation(y, factor("saturation"))
            y = enhance.adjust_hue(y, factor("hue") * (2.0 * torch.pi))
        return y * 2.0 - 1.0

    # ------------------------------------------------------------ kornia: affine

    def _sample_affine(self, n: int, h: int, w: int) -> dict[str, Tensor]:
        c, g, on = self.config, self.generator, self._applies(n)
        angle = _uniform(n, -c.degrees, c.degrees, g)
        trans = torch.stack([_uniform(n, -c.translate, c.translate, g) * w,
                             _uniform(n, -c.translate, c.translate, g) * h], dim=1)
        scale = _uniform(n, c.scale[0], c.scale[1], g)
        shear = torch.deg2rad(torch.stack([_uniform(n, -c.shear, c.shear, g),
                                           _uniform(n, -c.shear, c.shear, g)], dim=1))
        return {
            "angle": torch.where(on, angle, 0.0),
            "translation": torch.where(on[:, None], trans, 0.0),
            "scale": torch.where(on, scale, 1.0),
            "shear": torch.where(on[:, None], shear, 0.0),
            "center": torch.tensor([(w - 1) / 2.0, (h - 1) / 2.0]).expand(n, 2),
        }

    def _apply_affine(self, x: Tensor, p: dict[str, Tensor]) -> Tensor:
        from kornia.geometry.transform import get_affine_matrix2d, warp_affine

        _, _, h, w = x.shape
        # The matrix is built in float32 (kornia's inverse needs it), then used in x's dtype.
        matrix = get_affine_matrix2d(
            p["translation"].float(), p["center"].float(), p["scale"].float()[:, None].expand(-1, 2),
            p["angle"].float(), p["shear"][:, 0].float(), p["shear"][:, 1].float(),
        ).to(device=x.device, dtype=x.dtype)
        return warp_affine(x, matrix[:, :2], (h, w), padding_mode=self.config.padding, align_corners=True)

    # ------------------------------------------------------------ flip

    def _sample_flip(self, n: int, h: int, w: int) -> Tensor:
        return self._applies(n) & (torch.rand(n, generator=self.generator) < 0.5)

    @staticmethod
    def _apply_flip(x: Tensor, flip: Tensor) -> Tensor:
        return torch.where(flip.to(x.device).view(-1, 1, 1, 1), x.flip(-1), x)


def diff_augment(x: Tensor, policy: str = DIFFAUGMENT_POLICY) -> Tensor:
    """DiffAugment as a function (torch's global generator), for recipes that augment real and
    generated images alike in front of the discriminator."""
    return BatchAugment(AugmentConfig(policy=policy))(x)  # type: ignore[arg-type]
