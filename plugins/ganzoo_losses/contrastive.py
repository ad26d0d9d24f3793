"""PatchNCE (Park et al. 2020, CUT): a patch of the output should match the patch of the input
at the same place better than any other patch of that input.

It is what lets CUT drop CycleGAN's second generator: instead of reconstructing the input, the
generator keeps content by making its own encoding of the output agree, location by location,
with its encoding of the input (InfoNCE over sampled locations, negatives from the same image).
"""

from __future__ import annotations

from collections.abc import Sequence

import torch
import torch.nn.functional as F
from pydantic import Field, model_validator
from torch import Tensor, nn

import ganzoo

DIAGONAL_LOGIT = -10.0
"""What the reference writes over each query's similarity with its own key among the negatives
(that pair is the positive, already in the first column): exp(-10 / 0.07) is nought."""


class PatchNCEConfig(ganzoo.LossConfig):
    layers: list[str] = Field(
        ["input", "down1", "down2", "block1", "block5"],
        description="Generator feature layers compared (see the generator's features); CUT's default is the "
        "padded input, both down-sampling convs and residual blocks 1 and 5 (the reference's 0,4,8,12,16).",
    )
    num_patches: int = Field(256, gt=0, description="Locations sampled per layer, the same for input and output.")
    temperature: float = Field(0.07, gt=0, description="Softmax temperature of the similarities (nce_T).")
    mlp_width: int = Field(
        256, ge=0,
        description="Width of each layer's projection head Linear(C, w)-ReLU-Linear(w, w) (netF_nc); 0: no head, "
        "the sampled features are only L2-normalised (the reference's netF = sample).")
    init_gain: float = Field(0.02, ge=0, description="Gain of the heads' xavier-normal init (the reference's 0.02).")
    channels: dict[str, int] = Field(
        {}, exclude=True,
        description="Channels of the generator's feature layers by name: set by the method from its generator's "
        "feature_layers() when it builds the loss (channels=G.feature_layers()), not in recipes.")

    @model_validator(mode="after")
    def _layers_offered(self) -> PatchNCEConfig:
        if not self.layers:
            raise ValueError("layers: at least one feature layer is needed")
        missing = [name for name in self.layers if self.channels and name not in self.channels]
        if missing:
            raise ValueError(f"layers: the generator offers no feature layer {', '.join(map(repr, missing))} "
                             f"(it offers {', '.join(self.channels)})")
        return self


def _project(head: nn.Module, x: Tensor) -> Tensor:
    """``head(x) / (|head(x)| + 1e-7)`` as the reference, always in float32. The heads start with
    tiny outputs (xavier, gain 0.02), so the normalisation multiplies their gradients by about
    1 / |head(x)|: summed over the sampled rows in fp16, a bias gradient overflows (and the
    squares of the outputs underflow), which under fp16 autocast made every step non-finite.
    The heads are a few small matrix products; float32 costs little."""
    with torch.autocast(x.device.type, enabled=False):
        y = head(x.float())
        return y / (y.norm(dim=-1, keepdim=True) + 1e-7)


class PatchNCELoss(ganzoo.Loss):
    """Multilayer patchwise contrastive loss with one projection head per layer.

    ``loss(source_feats, output_feats)`` takes the generator's features of its input and of its
    output, one tensor per layer of ``config.layers`` (``G.features(x, loss.layers)``), and
    returns ``weight`` x the mean over layers of the InfoNCE loss of ``num_patches`` locations.
    The source side (the keys) is detached: the generator learns by moving its output's
    features, never by making its input's easier to match. The heads are built here from known
    channel counts, so they are ordinary parameters from the start (checkpoints, resume,
    distributed training); a method gives them their own optimizer (the reference's ``F``).
    """

    Config = PatchNCEConfig

    def __init__(self, config: PatchNCEConfig, name: str | None = None):
        super().__init__(config, name)
        if not config.channels:
            raise ganzoo.GanzooError(
                f"loss '{self.name}' (patchnce) needs the channels of its layers: the method builds it with "
                "channels=G.feature_layers()")
        width = config.mlp_width
        self.heads = nn.ModuleList(
            nn.Sequential(nn.Linear(config.channels[name], width), nn.ReLU(), nn.Linear(width, width))
            if width else nn.Identity()
            for name in config.layers
        )
        for m in self.heads.modules():
            if isinstance(m, nn.Linear):
                nn.init.xavier_normal_(m.weight, gain=config.init_gain)
                nn.init.zeros_(m.bias)

    @property
    def layers(self) -> list[str]:
        return list(self.config.layers)  # type: ignore[attr-defined]

    def sample_ids(self, source_feats: Sequence[Tensor]) -> list[Tensor]:
        """Random locations (flat indices into H x W) per layer, ``num_patches`` or all there are."""
        n = self.config.num_patches  # type: ignore[attr-defined]
        return [torch.randperm(f.shape[2] * f.shape[3], device=f.device)[:n] for f in source_feats]

    def forward(self, source_feats: Sequence[Tensor], output_feats: Sequence[Tensor],
                ids: Sequence[Tensor] | None = None) -> Tensor:
        if not (len(source_feats) == len(output_feats) == len(self.heads)):
            raise ganzoo.GanzooError(f"loss '{self.name}': {len(source_feats)} source and {len(output_feats)} output "
                                     f"feature maps for {len(self.heads)} layers ({', '.join(self.layers)})")
        ids = self.sample_ids(source_feats) if ids is None else ids
        total = sum(self.layer_loss(head, src, out, where)
                    for head, src, out, where in zip(self.heads, source_feats, output_feats, ids, strict=True))
        return self.weight * total / len(self.heads)

    def layer_loss(self, head: nn.Module, source: Tensor, output: Tensor, ids: Tensor) -> Tensor:
        """InfoNCE of one layer: for each sampled location of each image, cross-entropy of its
        output feature against the source features of all sampled locations of that image,
        the one at the same place being the positive."""
        keys = _project(head, source.flatten(2)[:, :, ids].transpose(1, 2)).detach()  # (B, P, D)
        queries = _project(head, output.flatten(2)[:, :, ids].transpose(1, 2))
        positive = (queries * keys).sum(-1, keepdim=True)  # (B, P, 1)
        negatives = queries @ keys.transpose(1, 2)  # (B, P, P): the same image only
        eye = torch.eye(negatives.shape[-1], device=negatives.device, dtype=torch.bool)
        negatives = negatives.masked_fill(eye, DIAGONAL_LOGIT)
        logits = torch.cat([positive, negatives], dim=-1) / self.config.temperature  # type: ignore[attr-defined]
        target = torch.zeros(logits.shape[:-1], dtype=torch.long, device=logits.device)
        return F.cross_entropy(logits.flatten(0, 1), target.flatten())
