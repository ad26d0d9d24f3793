"""UNIT's networks: the VAE generator (one encoder + decoder per domain) and the multi-scale
PatchGAN discriminator, as in mingyuliutw/UNIT (2018, ``networks.py``: ``VAEGen``,
``MsImageDis``).

Layouts and state-dict keys follow the reference exactly, so its checkpoints load with
``strict=True``: ``gen.load_state_dict(torch.load("gen_00100000.pt")["a"])``.
"""

from __future__ import annotations

import torch
from pydantic import Field
from torch import Tensor, nn

import ganzoo
from ganzoo_unit.layers import (
    Activation,
    Conv2dBlock,
    InitType,
    NormType,
    PadType,
    ResBlocks,
    init_weights,
)


class UNITGeneratorConfig(ganzoo.GeneratorConfig):
    dim: int = Field(64, gt=0, description="Filters of the first encoder conv; doubled at each downsampling.")
    n_downsample: int = Field(
        2, ge=0, description="Stride-2 convs in the encoder (and nearest-upsample convs in the decoder)."
    )
    n_res: int = Field(
        4, ge=0, description="Residual blocks at the end of the encoder and again at the start of the decoder."
    )
    activ: Activation = Field("relu", description="Activation of every conv block but the output (tanh).")
    pad_type: PadType = Field("reflect", description="Padding of every conv.")
    init: InitType = Field(
        "kaiming", description="Init of conv weights (biases 0): the reference configs' 'kaiming' (fan-in, a=0)."
    )


class UNITGenerator(ganzoo.Generator):
    """A domain's VAE: ``encode`` maps an image to the mean of its latent, ``decode`` maps a latent
    back to an image of the domain.

    Encoder: 7x7 conv, ``n_downsample`` 4x4 stride-2 convs, ``n_res`` residual blocks, all with
    instance norm. Decoder: ``n_res`` residual blocks (instance norm), then per downsampling a
    nearest 2x upsample and a 5x5 conv with the reference's layer norm, then a 7x7 conv and tanh.
    The latent is Gaussian with unit variance (the reference's "reduced VAE"), so ``encode``
    returns the mean and a draw of N(0, I) noise; training decodes ``mean + noise``.

    ``forward`` reconstructs deterministically within the domain (decodes the mean); translation
    needs the other domain's decoder, so it lives in the ``unit`` recipe.
    """

    Config = UNITGeneratorConfig

    def __init__(self, config: UNITGeneratorConfig):
        super().__init__(config)
        c = config
        self.enc = UNITEncoder(c.n_downsample, c.n_res, c.input_nc, c.dim, c.activ, c.pad_type)
        self.dec = UNITDecoder(c.n_downsample, c.n_res, self.enc.output_dim, c.output_nc, c.activ, c.pad_type)
        init_weights(self, c.init)

    @property
    def stride(self) -> int:
        return 2 ** self.config.n_downsample

    @property
    def latent_channels(self) -> int:
        return self.enc.output_dim

    def encode(self, x: Tensor) -> tuple[Tensor, Tensor]:
        """``(mean, noise)``: the latent mean and a fresh N(0, I) draw of its shape.

        Returning the noise separately (as the reference does) lets the caller decide whether
        to sample (``mean + noise``, training) or not (``mean``, translation).
        """
        if x.shape[-2] % self.stride or x.shape[-1] % self.stride:
            raise ganzoo.GanzooError(
                f"unit_vae: input {tuple(x.shape[-2:])} is not a multiple of {self.stride} "
                f"(2 ** n_downsample) in height and width; pad or crop it"
            )
        hidden = self.enc(x)
        return hidden, torch.randn_like(hidden)

    def decode(self, hidden: Tensor) -> Tensor:
        return self.dec(hidden)

    def forward(self, x: Tensor) -> Tensor:
        return self.decode(self.encode(x)[0])

    def encoder_blocks(self) -> nn.Sequential:
        """The encoder's residual blocks, lowest level first (the last ones are the most abstract)."""
        return self.enc.model[-1].model

    def decoder_blocks(self) -> nn.Sequential:
        """The decoder's residual blocks, most abstract first."""
        return self.dec.model[0].model

    def share_blocks(self, other: UNITGenerator, count: int) -> None:
        """Make ``other`` use this generator's last ``count`` encoder and first ``count`` decoder
        residual blocks: the very same modules, hence the same ``nn.Parameter`` objects.

        This is the paper's weight-sharing constraint: the high-level layers that touch the
        shared latent space are common to both domains.
        """
        if count == 0:
            return
        mine, theirs = self.encoder_blocks(), other.encoder_blocks()
        if count > len(mine) or len(mine) != len(theirs):
            raise ganzoo.GanzooError(
                f"cannot share {count} residual blocks: the generators have {len(mine)} and "
                f"{len(theirs)} (n_res); use shared_blocks <= n_res"
            )
        if self.latent_channels != other.latent_channels:
            raise ganzoo.GanzooError(
                f"cannot share blocks between generators with {self.latent_channels} and "
                f"{other.latent_channels} latent channels"
            )
        n = len(mine)
        for i in range(n - count, n):
            theirs[i] = mine[i]
        mine_dec, theirs_dec = self.decoder_blocks(), other.decoder_blocks()
        for i in range(count):
            theirs_dec[i] = mine_dec[i]


class UNITEncoder(nn.Module):
    """The reference's ``ContentEncoder`` (instance norm throughout)."""

    def __init__(self, n_downsample: int, n_res: int, input_dim: int, dim: int, activ: Activation, pad_type: PadType):
        super().__init__()
        layers: list[nn.Module] = [Conv2dBlock(input_dim, dim, 7, 1, 3, norm="in", activation=activ, pad_type=pad_type)]
        for _ in range(n_downsample):
            layers.append(Conv2dBlock(dim, 2 * dim, 4, 2, 1, norm="in", activation=activ, pad_type=pad_type))
            dim *= 2
        layers.append(ResBlocks(n_res, dim, norm="in", activation=activ, pad_type=pad_type))
        self.model = nn.Sequential(*layers)
        self.output_dim = dim

    def forward(self, x: Tensor) -> Tensor:
        return self.model(x)


class UNITDecoder(nn.Module):
    """The reference's ``Decoder`` with ``res_norm='in'`` (MUNIT uses AdaIN there instead)."""

    def __init__(
        self, n_upsample: int, n_res: int, dim: int, output_dim: int, activ: Activation, pad_type: PadType
    ):
        super().__init__()
        layers: list[nn.Module] = [ResBlocks(n_res, dim, norm="in", activation=activ, pad_type=pad_type)]
        for _ in range(n_upsample):
            layers += [
                nn.Upsample(scale_factor=2, mode="nearest"),
                Conv2dBlock(dim, dim // 2, 5, 1, 2, norm="ln", activation=activ, pad_type=pad_type),
            ]
            dim //= 2
        layers.append(Conv2dBlock(dim, output_dim, 7, 1, 3, norm="none", activation="tanh", pad_type=pad_type))
        self.model = nn.Sequential(*layers)

    def forward(self, x: Tensor) -> Tensor:
        return self.model(x)


class MultiScaleDiscriminatorConfig(ganzoo.DiscriminatorConfig):
    dim: int = Field(64, gt=0, description="Filters of the first conv; doubled by every further layer.")
    n_layer: int = Field(4, ge=1, description="4x4 stride-2 conv layers per scale.")
    norm: NormType = Field(
        "none", description="Norm of every conv but the first: none (reference), in, ln (layer) or bn."
    )
    activ: Activation = Field("lrelu", description="Activation after each conv (lrelu = LeakyReLU(0.2)).")
    num_scales: int = Field(
        3, ge=1, description="Copies of the network, scale k judging the image average-pooled k times by 2."
    )
    pad_type: PadType = Field("reflect", description="Padding of every conv.")
    init: InitType = Field(
        "gaussian",
        description="Init of conv weights (biases 0). The reference trainer applies its config's 'kaiming' "
        "to everything, then re-initialises both discriminators with 'gaussian' N(0, 0.02): the "
        "latter is what D gets.",
    )


class MultiScaleDiscriminator(ganzoo.Discriminator):
    """Multi-scale PatchGAN (the reference's ``MsImageDis``, as in pix2pixHD): ``num_scales``
    independent fully-convolutional networks, scale k seeing the input downsampled k times by
    a 3x3 stride-2 average pool. Returns the list of per-scale score maps; ganzoo's
    adversarial losses sum their terms over scales, as the reference does.

    Coarse scales judge global layout, fine scales texture, so one D covers both without the
    huge receptive field a single network would need.
    """

    Config = MultiScaleDiscriminatorConfig

    def __init__(self, config: MultiScaleDiscriminatorConfig):
        super().__init__(config)
        c = config
        self.downsample = nn.AvgPool2d(3, stride=2, padding=1, count_include_pad=False)
        self.cnns = nn.ModuleList([self._make_net(c) for _ in range(c.num_scales)])
        init_weights(self, c.init)

    @staticmethod
    def _make_net(c: MultiScaleDiscriminatorConfig) -> nn.Sequential:
        dim = c.dim
        layers: list[nn.Module] = [
            Conv2dBlock(c.input_nc, dim, 4, 2, 1, norm="none", activation=c.activ, pad_type=c.pad_type)
        ]
        for _ in range(c.n_layer - 1):
            layers.append(Conv2dBlock(dim, dim * 2, 4, 2, 1, norm=c.norm, activation=c.activ, pad_type=c.pad_type))
            dim *= 2
        layers.append(nn.Conv2d(dim, 1, 1, 1, 0))
        return nn.Sequential(*layers)

    @property
    def min_input_size(self) -> int:
        """Smallest height/width every scale can take: each 4x4 stride-2 conv halves the size and
        needs at least 2 pixels, so the coarsest scale must still see 2 ** n_layer."""
        c = self.config
        return 2 ** (c.n_layer + c.num_scales - 1)

    def forward(self, x: Tensor) -> list[Tensor]:
        if min(x.shape[-2:]) < self.min_input_size:
            c = self.config
            raise ganzoo.GanzooError(
                f"multiscale_patchgan: input {tuple(x.shape[-2:])} is too small for n_layer={c.n_layer} "
                f"and num_scales={c.num_scales} (needs at least {self.min_input_size} px); "
                f"lower n_layer or num_scales"
            )
        outputs = []
        for i, model in enumerate(self.cnns):
            if i:
                x = self.downsample(x)
            outputs.append(model(x))
        return outputs
