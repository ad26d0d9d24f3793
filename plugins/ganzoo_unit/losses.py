"""UNIT's own loss terms: the KL of its unit-variance Gaussian latent, and the optional
domain-invariant perceptual (VGG16) loss of the reference trainer."""

from __future__ import annotations

from pathlib import Path

import torch
import torch.nn.functional as F
from torch import Tensor, nn

import ganzoo


def unit_kl(mu: Tensor) -> Tensor:
    """The reference's ``__compute_kl``: ``mean(mu ** 2)``.

    UNIT's encoder outputs only a mean; the posterior is q(z|x) = N(mu, I). Its KL divergence
    to the prior N(0, I) has the closed form

        KL(N(mu, I) || N(0, I)) = 0.5 * sum(mu ** 2)

    (the variance terms vanish when the variance is fixed to 1). This function returns
    ``mean(mu ** 2) = 2 * KL / mu.numel()``: the KL without the 0.5 and averaged over every
    latent element (and the batch) rather than summed, which is what ``recon_kl_w = 0.01`` in
    the reference configs is calibrated for.
    """
    return mu.pow(2).mean()


# torchvision's VGG16 ImageNet weights file, as torch.hub caches it.
VGG16_CACHE_FILE = "vgg16-397923af.pth"
# (out_channels per conv) of VGG16 up to relu5_3, "M" = 2x2 max pool.
_VGG16_RELU5_3 = (64, 64, "M", 128, 128, "M", 256, 256, 256, "M", 512, 512, 512, "M", 512, 512, 512)


def vgg16_weight_candidates(path: Path | str | None) -> list[Path]:
    """Where the VGG16 weights are looked for: the configured file if any, else torch.hub's
    cache (``$TORCH_HOME/hub/checkpoints``, filled by torchvision's ``vgg16(weights=...)``)."""
    if path is not None:
        return [Path(path).expanduser()]
    return [Path(torch.hub.get_dir()) / "checkpoints" / VGG16_CACHE_FILE]


class VGGPerceptualLoss(nn.Module):
    """The reference's ``compute_vgg_loss``: mean squared distance between the instance-normalised
    relu5_3 features of VGG16 of two images.

    Instance-normalising the features removes their per-channel mean and scale, i.e. the
    "style" of the image, so a translated image is compared with its source on content alone:
    that is what makes the loss domain-invariant.

    The weights are torchvision's ImageNet VGG16 (the reference used a Caffe VGG16 converted
    from Lua Torch, with BGR, 0..255, mean-subtracted inputs); inputs are mapped from [-1, 1]
    to torchvision's normalisation. They are stored as non-persistent buffers: they move with
    ``.to(device)`` but are neither trained nor written into checkpoints.
    Never downloads: a missing file is a :class:`ganzoo.GanzooError` naming where it looked.
    """

    def __init__(self, path: Path | str | None = None):
        super().__init__()
        candidates = vgg16_weight_candidates(path)
        found = next((p for p in candidates if p.is_file()), None)
        if found is None:
            where = ", ".join(str(p) for p in candidates)
            raise ganzoo.GanzooError(
                f"vgg_w > 0 needs VGG16 weights, none found at {where}. Set method.vgg_weights to "
                f"a torchvision VGG16 state dict, or cache it once with: python -c \"import torchvision; "
                f"torchvision.models.vgg16(weights='IMAGENET1K_V1')\""
            )
        try:
            state = torch.load(found, map_location="cpu", weights_only=True)
        except Exception as exc:  # noqa: BLE001 - truncated, foreign or code-carrying files
            raise ganzoo.GanzooError(f"{found}: cannot be read as a VGG16 state dict ({type(exc).__name__}); set "
                                     "method.vgg_weights to torchvision's vgg16-397923af.pth") from None
        if isinstance(state, dict) and "state_dict" in state:
            state = state["state_dict"]
        self._plan: list[str] = []
        index, conv = 0, 0
        for item in _VGG16_RELU5_3:
            if item == "M":
                self._plan.append("M")
                index += 1
                continue
            weight = _find(state, index, "weight", found)
            bias = _find(state, index, "bias", found)
            if weight.shape[0] != item:
                raise ganzoo.GanzooError(f"{found}: layer {index} has {weight.shape[0]} filters, VGG16 has {item}")
            self.register_buffer(f"w{conv}", weight.float(), persistent=False)
            self.register_buffer(f"b{conv}", bias.float(), persistent=False)
            self._plan.append(f"{conv}")
            index += 2  # conv, relu
            conv += 1
        self.register_buffer("mean", torch.tensor([0.485, 0.456, 0.406]).view(1, 3, 1, 1), persistent=False)
        self.register_buffer("std", torch.tensor([0.229, 0.224, 0.225]).view(1, 3, 1, 1), persistent=False)
        self.source = found

    def features(self, x: Tensor) -> Tensor:
        """relu5_3 features of images in [-1, 1]."""
        x = ((x + 1) / 2 - self.mean) / self.std
        for step in self._plan:
            if step == "M":
                x = F.max_pool2d(x, 2, 2)
            else:
                x = F.relu(F.conv2d(x, getattr(self, f"w{step}"), getattr(self, f"b{step}"), padding=1))
        return x

    def forward(self, image: Tensor, target: Tensor) -> Tensor:
        if min(image.shape[-2:]) < 32:
            raise ganzoo.GanzooError(
                f"the VGG perceptual loss needs images of at least 32 px (relu5_3 is 1/16 of the size "
                f"and instance norm needs 2x2), got {tuple(image.shape[-2:])}; set vgg_w = 0"
            )
        a = F.instance_norm(self.features(image))
        b = F.instance_norm(self.features(target))
        return F.mse_loss(a, b)


def _find(state: dict, index: int, kind: str, source: Path) -> Tensor:
    """A VGG16 ``features`` tensor, from a whole-model (``features.i.*``) or a features-only
    (``i.*``) state dict."""
    for key in (f"features.{index}.{kind}", f"{index}.{kind}"):
        if key in state:
            return state[key]
    raise ganzoo.GanzooError(f"{source} is not a torchvision VGG16 state dict (no 'features.{index}.{kind}')")
