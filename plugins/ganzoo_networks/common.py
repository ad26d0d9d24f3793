"""Pieces shared by every network of this plugin: normalisation choice, weight init, config
fields, and loading of checkpoints written by the reference CycleGAN/pix2pix code.

The networks follow junyanz/pytorch-CycleGAN-and-pix2pix (models/networks.py) closely enough
that its published checkpoints load with ``strict=True``; the helpers here encode the few
rules of that code the layouts depend on (when a conv has a bias, what instance norm keeps).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, Literal, TypeVar

from pydantic import BaseModel, Field
from torch import Tensor, nn

from ganzoo.layers import InitType, Norm, conv_bias, init_weights, norm_layer

__all__ = ["conv_bias", "init_weights", "norm_layer"]  # re-exported: ganzoo.layers is their home

PaddingType = Literal["reflect", "replicate", "zero"]

_INSTANCE_NORMS = (nn.InstanceNorm1d, nn.InstanceNorm2d, nn.InstanceNorm3d)
_STALE_INSTANCE_NORM_BUFFERS = ("running_mean", "running_var", "num_batches_tracked")


# --------------------------------------------------------------------------- config fields
# Functions rather than shared FieldInfo objects so every config class owns its own field.


def ngf_field(default: int = 64) -> Any:
    return Field(default, gt=0, description="Filters in the generator's first (and last) conv layer.")


def ndf_field(default: int = 64) -> Any:
    return Field(default, gt=0, description="Filters in the discriminator's first conv layer.")


def norm_field(default: Norm = "instance") -> Any:
    return Field(
        default,
        description=(
            "Normalisation layer: instance (no affine parameters, no running stats, as in the "
            "reference), batch, or none. Convs followed by a norm have a bias only with instance."
        ),
    )


def init_type_field(default: InitType = "normal") -> Any:
    return Field(
        default,
        description="Weight init of conv/linear layers: normal(0, gain), xavier, kaiming (ignores gain), orthogonal.",
    )


def init_gain_field(default: float = 0.02) -> Any:
    return Field(
        default, ge=0, description="Std of normal init, gain of xavier/orthogonal; batch-norm scales get N(1, gain)."
    )


def antialias_field(default: bool = False) -> Any:
    return Field(
        default,
        description="Anti-aliased resampling as CUT's networks: a stride-1 conv then a [1,2,1] blur-pool instead of "
        "each strided conv, and blur upsampling then a conv instead of each transposed conv. Off: the CycleGAN "
        "reference's layers (and its checkpoints' keys).",
    )


def dropout_field(default: bool = False) -> Any:
    return Field(default, description="Dropout(0.5) inside residual blocks / inner U-Net blocks (pix2pix noise).")


# --------------------------------------------------------------------------- building blocks


C = TypeVar("C", bound=BaseModel)


def coerce_config(config: BaseModel | Mapping[str, Any] | None, cls: type[C]) -> C:
    """Accept the config class itself, a plain mapping, or None (defaults), so networks can be
    built directly in notebooks and tests as well as through the registry."""
    if isinstance(config, cls):
        return config
    if config is None:
        return cls()
    if isinstance(config, BaseModel):
        config = config.model_dump()
    return cls.model_validate(dict(config))


# --------------------------------------------------------------------------- reference checkpoints


def patch_reference_state_dict(module: nn.Module, state_dict: Mapping[str, Any]) -> dict[str, Tensor]:
    """Return a copy of ``state_dict`` that ``module`` can load strictly.

    Handles what differs between checkpoints of the reference code and the live module:
    a ``{"state_dict": ...}`` wrapper, the ``module.`` prefix ``nn.DataParallel`` adds, and
    the ``running_mean``/``running_var``/``num_batches_tracked`` buffers that InstanceNorm
    carried before PyTorch 0.4 (and that the reference's ``__patch_instance_norm_state_dict``
    drops). Only buffers of instance-norm layers that track no stats are dropped, so a real
    mismatch still fails loudly.
    """
    if "state_dict" in state_dict and isinstance(state_dict["state_dict"], Mapping):
        state_dict = state_dict["state_dict"]
    own_keys = set(module.state_dict())
    if (
        state_dict
        and all(k.startswith("module.") for k in state_dict)
        and not any(k.startswith("module.") for k in own_keys)
    ):
        state_dict = {k[len("module.") :]: v for k, v in state_dict.items()}

    stateless_norms = {
        name for name, m in module.named_modules() if isinstance(m, _INSTANCE_NORMS) and not m.track_running_stats
    }
    patched: dict[str, Tensor] = {}
    for key, value in state_dict.items():
        owner, _, leaf = key.rpartition(".")
        if leaf in _STALE_INSTANCE_NORM_BUFFERS and owner in stateless_norms:
            continue
        patched[key] = value
    return patched


def load_reference_state_dict(module: nn.Module, state_dict: Mapping[str, Any]) -> Any:
    """Load a reference (or ganzoo) checkpoint into ``module`` with ``strict=True``.

    Strict on purpose: a silently skipped key would leave a layer at its random init and
    produce plausible-looking but wrong images. Returns ``load_state_dict``'s result.
    """
    return module.load_state_dict(patch_reference_state_dict(module, state_dict), strict=True)
