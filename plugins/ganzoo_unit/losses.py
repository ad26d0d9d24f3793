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
# The convolutions of the reference's ``Vgg16`` (networks.py), up to relu5_3: (name in the
# reference's state dict, output channels, index in torchvision's ``vgg16().features``, whether a
# 2x2 max pool follows). Unlike torchvision's VGG16, the reference has no pool after conv4_3, so
# relu5_3 is at 1/8 of the input size, not 1/16.
_VGG16_CONVS = (
    ("conv1_1", 64, 0, False), ("conv1_2", 64, 2, True),
    ("conv2_1", 128, 5, False), ("conv2_2", 128, 7, True),
    ("conv3_1", 256, 10, False), ("conv3_2", 256, 12, False), ("conv3_3", 256, 14, True),
    ("conv4_1", 512, 17, False), ("conv4_2", 512, 19, False), ("conv4_3", 512, 21, False),
    ("conv5_1", 512, 24, False), ("conv5_2", 512, 26, False), ("conv5_3", 512, 28, False),
)
VGG_STRIDE = 8
"""relu5_3 is this many times smaller than the input (three 2x2 pools, as the reference)."""
CAFFE_BGR_MEAN = (103.939, 116.779, 123.680)
"""The reference's ``vgg_preprocess`` mean, B, G, R on the 0..255 scale (Caffe's ImageNet mean)."""
TORCHVISION_MEAN, TORCHVISION_STD = (0.485, 0.456, 0.406), (0.229, 0.224, 0.225)
"""What torchvision's ImageNet weights expect: RGB in [0, 1], normalised per channel with these."""


def caffe_input(x: Tensor) -> Tensor:
    """Images in [-1, 1] (RGB) as the reference's ``vgg_preprocess`` feeds its Caffe VGG16:
    channels reversed to BGR, scaled to 0..255, minus :data:`CAFFE_BGR_MEAN`."""
    mean = x.new_tensor(CAFFE_BGR_MEAN).view(1, 3, 1, 1)
    return (x.flip(1) + 1) * 127.5 - mean


def torchvision_input(x: Tensor) -> Tensor:
    """Images in [-1, 1] (RGB) as torchvision's VGG16 weights were trained on: RGB in [0, 1],
    minus :data:`TORCHVISION_MEAN`, divided by :data:`TORCHVISION_STD`."""
    mean = x.new_tensor(TORCHVISION_MEAN).view(1, 3, 1, 1)
    std = x.new_tensor(TORCHVISION_STD).view(1, 3, 1, 1)
    return ((x + 1) / 2 - mean) / std


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

    Matched with the reference (mingyuliutw/UNIT ``networks.py`` ``Vgg16``, ``utils.py``
    ``vgg_preprocess``, ``trainer.py`` ``compute_vgg_loss``):

    * the topology: VGG16's 13 3x3 convolutions with ReLU up to relu5_3, 2x2 max pools after
      relu1_2, relu2_2 and relu3_3 only (none after relu4_3), so the features are 512 channels at
      1/8 of the input size (torchvision's ``features[:30]`` would be at 1/16);
    * instance norm of the features without affine parameters (eps 1e-5), then the MSE averaged
      over every element.

    The weights decide the input convention, so that the features mean what the weights learnt:

    * the reference's own file (``vgg16.weight``, keys ``conv1_1.weight`` ...: the Caffe VGG16
      converted from Lua Torch) gets the reference's input exactly, :func:`caffe_input`
      (BGR, 0..255, minus the Caffe mean);
    * torchvision's ImageNet VGG16 (keys ``features.N.weight``, or ``N.weight``) gets what it
      was trained on, :func:`torchvision_input` (RGB in [0, 1], torchvision's mean and std).
      Fed Caffe-style inputs instead, it would see R and B swapped and values some 58 times larger.

    Everything but the weights then matches; with torchvision's weights the loss values differ
    from the reference's only because the two VGG16s were trained separately.
    ``convention`` says which input was chosen. The weights are stored as non-persistent
    buffers: they move with ``.to(device)`` but are neither trained nor written into checkpoints.
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
                f"a torchvision VGG16 state dict or the reference's vgg16.weight, or cache torchvision's "
                f"once with: python -c \"import torchvision; torchvision.models.vgg16(weights='IMAGENET1K_V1')\""
            )
        try:
            state = torch.load(found, map_location="cpu", weights_only=True)
        except Exception as exc:  # noqa: BLE001 - truncated, foreign or code-carrying files
            raise ganzoo.GanzooError(f"{found}: cannot be read as a VGG16 state dict ({type(exc).__name__}); set "
                                     "method.vgg_weights to torchvision's vgg16-397923af.pth") from None
        if isinstance(state, dict) and "state_dict" in state:
            state = state["state_dict"]
        if not isinstance(state, dict):
            raise ganzoo.GanzooError(f"{found}: holds a {type(state).__name__}, not a VGG16 state dict")
        reference = "conv1_1.weight" in state
        self.convention = "caffe" if reference else "torchvision"
        self.pools: tuple[bool, ...] = tuple(pool for *_, pool in _VGG16_CONVS)
        cin = 3
        for i, (name, out, index, _) in enumerate(_VGG16_CONVS):
            keys = [name] if reference else [f"features.{index}", f"{index}"]
            weight = _find(state, keys, "weight", found)
            bias = _find(state, keys, "bias", found)
            if tuple(weight.shape) != (out, cin, 3, 3) or tuple(bias.shape) != (out,):
                raise ganzoo.GanzooError(
                    f"{found}: {keys[0]} has shape {tuple(weight.shape)}, VGG16's {name} has {(out, cin, 3, 3)}"
                )
            self.register_buffer(f"w{i}", weight.float(), persistent=False)
            self.register_buffer(f"b{i}", bias.float(), persistent=False)
            cin = out
        self.source = found

    def preprocess(self, x: Tensor) -> Tensor:
        """Images in [-1, 1] as the loaded weights expect them (see the class docstring)."""
        return caffe_input(x) if self.convention == "caffe" else torchvision_input(x)

    def features(self, x: Tensor) -> Tensor:
        """relu5_3 features (512 channels, 1/8 of the size) of images in [-1, 1]."""
        x = self.preprocess(x)
        for i, pool in enumerate(self.pools):
            x = F.relu(F.conv2d(x, getattr(self, f"w{i}"), getattr(self, f"b{i}"), padding=1))
            if pool:
                x = F.max_pool2d(x, 2, 2)
        return x

    def forward(self, image: Tensor, target: Tensor) -> Tensor:
        if min(image.shape[-2:]) < 2 * VGG_STRIDE:
            raise ganzoo.GanzooError(
                f"the VGG perceptual loss needs images of at least {2 * VGG_STRIDE} px (relu5_3 is 1/{VGG_STRIDE} "
                f"of the size and instance norm needs 2x2), got {tuple(image.shape[-2:])}; set vgg_w = 0"
            )
        a = F.instance_norm(self.features(image))
        b = F.instance_norm(self.features(target))
        return F.mse_loss(a, b)


def _find(state: dict, keys: list[str], kind: str, source: Path) -> Tensor:
    """One VGG16 tensor: ``{key}.{kind}`` for the first of ``keys`` the state dict has."""
    for key in keys:
        if f"{key}.{kind}" in state:
            return state[f"{key}.{kind}"]
    raise ganzoo.GanzooError(
        f"{source} is not a VGG16 state dict (no '{keys[0]}.{kind}'): give torchvision's (features.N.weight) "
        "or the reference's vgg16.weight (conv1_1.weight ...)"
    )
