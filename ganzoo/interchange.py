"""Import of published checkpoints of reference implementations into ganzoo components.

The reference CycleGAN/pix2pix code (junyanz/pytorch-CycleGAN-and-pix2pix) saves one
``state_dict`` per network (``latest_net_G_A.pth``); UNIT (mingyuliutw/UNIT) saves both
domains' generators in one file (``gen_00100000.pt`` = ``{"a": ..., "b": ...}``). ganzoo's
networks keep the reference key layouts, so importing is: read the file *safely*, pick the
state dict, undo the generic differences (``module.`` prefixes of ``nn.DataParallel``,
InstanceNorm buffers that PyTorch < 0.4 saved), and load with ``strict=True``.

The core knows no concrete network: components are built through the registry by name, so a
plugin's networks import the same way. When a file does not fit, the error lists the missing
and unexpected keys and, by building candidate configurations on the meta device (no memory,
no init cost), says which registered component and sizes the file does fit.

Safety: ``torch.load(weights_only=True)`` only, which rebuilds tensors and plain containers
and refuses any other pickled object, so a malicious checkpoint cannot run code on load.
"""

from __future__ import annotations

import pickle
import typing
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import torch
from pydantic import BaseModel, ValidationError
from torch import Tensor, nn
from torch.overrides import TorchFunctionMode

from ganzoo.errors import CheckpointError, GanzooError

StateDict = dict[str, Tensor]
_WRAPPER_KEYS = ("state_dict", "model_state_dict", "model")
_STALE_NORM_BUFFERS = ("running_mean", "running_var", "num_batches_tracked")
_WIDTH_FIELDS = ("ngf", "ndf", "dim", "nf", "width", "base_channels")
_SEARCH_RANGE = range(0, 13)


# --------------------------------------------------------------------------- reading


def read_checkpoint(path: Path | str) -> Any:
    """The object in a checkpoint file, read without executing code.

    ``.safetensors`` files are read with safetensors; anything else with
    ``torch.load(weights_only=True)``. A pickle that holds anything but tensors and plain
    containers (a class instance, a ``__reduce__`` payload) is refused with a
    :class:`CheckpointError` instead of being run.
    """
    path = Path(path)
    if not path.is_file():
        raise CheckpointError(f"{path}: no such file")
    if path.suffix == ".safetensors":
        from safetensors.torch import load_file

        try:
            return load_file(str(path))
        except Exception as exc:  # noqa: BLE001
            raise CheckpointError(f"{path}: not a readable safetensors file ({type(exc).__name__}: {exc})") from None
    try:
        return torch.load(path, map_location="cpu", weights_only=True)
    except pickle.UnpicklingError as exc:
        lines = str(exc).strip().splitlines()
        detail = next((line.strip() for line in lines if "global" in line.lower()), None)
        if detail is None:  # a bad opcode: garbage or truncation, not a payload
            raise CheckpointError(f"{path}: not a readable PyTorch checkpoint ({lines[0] if lines else exc})") from None
        raise CheckpointError(
            f"{path}: refused to load: the file holds Python objects other than tensors, numbers and "
            f"containers, which could run code when unpickled ({detail}). ganzoo only loads weights. If you "
            "trust the file's source, re-save its state dict with plain torch and import that."
        ) from None
    except Exception as exc:  # noqa: BLE001 - truncated file, not a torch file at all
        raise CheckpointError(f"{path}: not a readable PyTorch checkpoint ({type(exc).__name__}: "
                              f"{str(exc).splitlines()[0] if str(exc) else ''})") from None


def _is_state_dict(obj: Any) -> bool:
    return isinstance(obj, Mapping) and bool(obj) and all(
        isinstance(k, str) and isinstance(v, Tensor) for k, v in obj.items())


def state_dicts_in(obj: Any) -> dict[str, StateDict]:
    """The state dicts a checkpoint holds, by part name (``""`` when it is just one).

    Understands a bare state dict, a ``{"state_dict": ...}`` (or ``model_state_dict``/``model``)
    wrapper, and a mapping of several state dicts such as UNIT's ``{"a": ..., "b": ...}``.
    Entries that are not state dicts (an ``input`` tensor, an ``epoch`` counter) are ignored.
    """
    if _is_state_dict(obj):
        return {"": dict(obj)}
    if not isinstance(obj, Mapping):
        raise CheckpointError(f"expected a state dict (a mapping of names to tensors), got {type(obj).__name__}")
    for key in _WRAPPER_KEYS:
        if isinstance(obj.get(key), Mapping):
            return state_dicts_in(obj[key])
    parts = {str(k): dict(v) for k, v in obj.items() if _is_state_dict(v)}
    if parts:
        return parts
    tensors = {k: v for k, v in obj.items() if isinstance(k, str) and isinstance(v, Tensor)}
    if tensors:
        return {"": tensors}
    raise CheckpointError(f"no state dict found (top-level keys: {', '.join(map(str, list(obj)[:8]))})")


def select_state_dict(parts: Mapping[str, StateDict], part: str | None, source: str = "checkpoint") -> StateDict:
    if part is None or part == "":
        if len(parts) == 1:
            return next(iter(parts.values()))
        raise CheckpointError(f"{source} holds {len(parts)} state dicts ({', '.join(parts)}); choose one with "
                              f"part= / --part (e.g. --part {next(iter(parts))})")
    if part not in parts:
        raise CheckpointError(f"{source} has no part '{part}' (parts: {', '.join(p or '<root>' for p in parts)})")
    return parts[part]


# --------------------------------------------------------------------------- adapting and loading


def adapt_state_dict(module: nn.Module, state_dict: Mapping[str, Tensor]) -> StateDict:
    """What differs generically between an old checkpoint and a live module, undone:

    * the ``module.`` prefix ``nn.DataParallel`` adds to every key, when the module has none;
    * ``running_mean``/``running_var``/``num_batches_tracked`` of InstanceNorm layers that
      track no statistics (PyTorch < 0.4 saved them; the reference code drops them too);
    * a batch norm's ``num_batches_tracked``, which PyTorch < 0.4.1 did not save (the published
      pix2pix models): set to 0, as ``BatchNorm``'s own loading of such a file does. It only
      counts batches (for ``momentum=None``); no output depends on it.

    Nothing else is touched, so a real mismatch still fails the strict load.
    """
    own = module.state_dict()
    sd = dict(state_dict)
    for prefix in ("module.", "_orig_mod."):  # DataParallel / torch.compile wrappers
        if sd and all(k.startswith(prefix) for k in sd) and not any(k.startswith(prefix) for k in own):
            sd = {k[len(prefix):]: v for k, v in sd.items()}
    stateless = {name for name, m in module.named_modules()
                 if isinstance(m, nn.modules.instancenorm._InstanceNorm) and not m.track_running_stats}
    out = {}
    for key, value in sd.items():
        owner, _, leaf = key.rpartition(".")
        if key not in own and leaf in _STALE_NORM_BUFFERS and owner in stateless:
            continue
        out[key] = value
    for name, m in module.named_modules():
        at = f"{name}." if name else ""
        if (isinstance(m, nn.modules.batchnorm._BatchNorm) and m.track_running_stats
                and f"{at}running_mean" in out and f"{at}num_batches_tracked" not in out):
            out[f"{at}num_batches_tracked"] = torch.tensor(0, dtype=torch.long)
    return out


def describe_mismatch(module: nn.Module, state_dict: Mapping[str, Tensor]) -> tuple[list[str], list[str], list[str]]:
    """(missing keys, unexpected keys, shape mismatches as text) of ``state_dict`` for ``module``."""
    own = module.state_dict()
    missing = [k for k in own if k not in state_dict]
    unexpected = [k for k in state_dict if k not in own]
    shapes = [f"{k}: file {tuple(state_dict[k].shape)} vs network {tuple(own[k].shape)}"
              for k in own if k in state_dict and tuple(own[k].shape) != tuple(state_dict[k].shape)]
    return missing, unexpected, shapes


def _listing(label: str, items: list[str], n: int = 4) -> str:
    if not items:
        return ""
    more = f", ... ({len(items) - n} more)" if len(items) > n else ""
    return f"{len(items)} {label} ({', '.join(items[:n])}{more})"


def load_strict(
    module: nn.Module,
    state_dict: Mapping[str, Tensor],
    *,
    source: str = "checkpoint",
    what: str | None = None,
    kind: str | None = None,
    registry: Any = None,
) -> None:
    """Adapt and load ``state_dict`` into ``module`` with ``strict=True``.

    Strict on purpose: a silently skipped key leaves a layer at its random init and gives
    plausible-looking but wrong images. On mismatch the :class:`CheckpointError` lists the
    keys and, when ``kind`` and a registry are given, the components and sizes that fit.
    """
    sd = adapt_state_dict(module, state_dict)
    missing, unexpected, shapes = describe_mismatch(module, sd)
    if not (missing or unexpected or shapes):
        module.load_state_dict(sd, strict=True)
        return
    problems = "; ".join(p for p in (_listing("missing keys", missing), _listing("unexpected keys", unexpected),
                                     _listing("shape mismatches", shapes)) if p)
    message = f"{source} does not fit {what or type(module).__name__}: {problems}"
    suggestions = suggest_components(kind, state_dict, registry) if kind else []
    if suggestions:
        message += "\nthe file fits: " + "; ".join(format_suggestion(name, cfg) for name, cfg in suggestions)
    elif kind:
        message += f"\nno registered {kind} fits it at any size tried (see: ganzoo list-components {kind})"
    error = CheckpointError(message)
    error.suggestions = suggestions  # type: ignore[attr-defined]
    raise error


def format_suggestion(name: str, config: Mapping[str, Any]) -> str:
    options = " ".join(f"--generator-option {k}={v}" for k, v in config.items())
    return f"'{name}' with {', '.join(f'{k}={v}' for k, v in config.items()) or 'its defaults'}" + (
        f" ({options})" if options else "")


# --------------------------------------------------------------------------- suggestions


def _search_space(model: type[BaseModel], exclude: set[str]) -> dict[str, list[Any]]:
    """Config fields that can change a network's layout, with the values to try: integers
    (block and layer counts) over 0..12, booleans (dropout shifts layer indices), and small
    literal choices (norm layers add or drop keys). Init settings never change keys: skipped."""
    space: dict[str, list[Any]] = {}
    for name, info in model.model_fields.items():
        if name in exclude or "init" in name:
            continue
        ann = info.annotation
        args = typing.get_args(ann)
        if typing.get_origin(ann) is typing.Union:  # Optional[int] and the like
            args = tuple(a for a in args if a is not type(None))
            ann = args[0] if len(args) == 1 else ann
            args = typing.get_args(ann)
        if ann is bool:
            space[name] = [False, True]
        elif ann is int:
            space[name] = list(_SEARCH_RANGE)
        elif typing.get_origin(ann) is typing.Literal and 1 < len(args) <= 6:
            space[name] = list(args)
    return space


class _SkipInPlaceOnMeta(TorchFunctionMode):
    """In-place ops on meta tensors (weight init: ``normal_``, ``uniform_``, ``zero_``...) become
    no-ops: they change no shape, and their Python decompositions on the meta device cost
    most of a candidate build."""

    def __torch_function__(self, func, types, args=(), kwargs=None):
        kwargs = kwargs or {}
        name = getattr(func, "__name__", "")
        if name.endswith("_") and not name.endswith("__"):
            target = args[0] if args else kwargs.get("tensor", kwargs.get("self"))  # nn.init passes tensor=
            if isinstance(target, Tensor) and target.is_meta:
                return target
        return func(*args, **kwargs)


def _build_meta(spec: Any, values: Mapping[str, Any]) -> nn.Module | None:
    try:
        config = spec.make_config(values)
    except ValidationError:
        return None
    try:
        with torch.device("meta"), _SkipInPlaceOnMeta():
            return spec.build(config)
    except Exception:  # noqa: BLE001 - a candidate that cannot be built is simply not a match
        return None


def _first_and_last_weights(sd: Mapping[str, Tensor]) -> tuple[Tensor | None, Tensor | None]:
    convs = [v for k, v in sd.items() if k.endswith("weight") and v.dim() == 4]
    return (convs[0], convs[-1]) if convs else (None, None)


def suggest_components(kind: str, state_dict: Mapping[str, Tensor], registry: Any = None,
                       limit: int = 3) -> list[tuple[str, dict[str, Any]]]:
    """Registered components of ``kind`` (and config values) whose state dict has exactly the
    keys and shapes of ``state_dict``.

    Generic: the width (``ngf``/``ndf``/``dim``) and channel counts are read from the first and
    last conv weights, and the config fields that can change the layout (block and layer counts
    over 0..12, booleans, small choices such as the norm) are searched one and then two at a
    time, building each candidate on the meta device (no memory, no init).
    """
    if registry is None:
        from ganzoo.plugins import get_registry

        registry = get_registry()
    first, last = _first_and_last_weights(state_dict)
    if first is None:
        return []
    found: list[tuple[str, dict[str, Any]]] = []
    for spec in registry.list(kind):
        default = _build_meta(spec, {})
        if default is None:
            continue
        roots = {k.split(".", 1)[0] for k in default.state_dict()}
        if roots != {k.split(".", 1)[0] for k in adapt_state_dict(default, state_dict)}:
            continue  # other top-level submodules (enc/dec vs model): no size makes it fit
        fields = spec.config.model_fields
        width = next((f for f in _WIDTH_FIELDS if f in fields), None)
        space = _search_space(spec.config, {"input_nc", "output_nc", *_WIDTH_FIELDS})
        values = _descend(spec, space, state_dict)
        if values is not None:
            match = _fit_sizes(spec, values, width, first, last, state_dict)
            if match is not None:
                found.append((spec.name, match))
        if len(found) >= limit:
            break
    return found


def _key_distance(spec: Any, values: Mapping[str, Any], state_dict: Mapping[str, Tensor]) -> int | None:
    module = _build_meta(spec, values)
    if module is None:
        return None
    own = set(module.state_dict())
    return len(own ^ set(adapt_state_dict(module, state_dict)))  # per candidate: which norms exist differs


def _descend(spec: Any, space: Mapping[str, list[Any]], state_dict: Mapping[str, Tensor],
             rounds: int = 4) -> dict[str, Any] | None:
    """Config values whose state dict has exactly the file's keys, by coordinate descent on the
    number of differing keys (a count off by one shows as a block of extra or missing keys, a
    dropout or norm choice as shifted or extra keys), or None. Tens of meta builds, not the
    hundreds an exhaustive search over pairs of fields would take."""
    current: dict[str, Any] = {}
    best = _key_distance(spec, current, state_dict)
    if best is None:
        return None
    for _ in range(rounds):
        if best == 0:
            return current
        improved = False
        for field, choices in space.items():
            for value in choices:
                if current.get(field) == value:
                    continue
                trial = {**current, field: value}
                distance = _key_distance(spec, trial, state_dict)
                if distance is not None and distance < best:
                    best, current, improved = distance, trial, True
        if not improved:
            break
    return current if best == 0 else None


def _fit_sizes(spec: Any, values: dict[str, Any], width: str | None, first: Tensor, last: Tensor,
               state_dict: Mapping[str, Tensor]) -> dict[str, Any] | None:
    """Values (layout plus width and channels) whose shapes match ``state_dict`` exactly, or None."""
    fields = spec.config.model_fields
    sizes: dict[str, Any] = {}
    if width:
        sizes[width] = int(first.shape[0])
    if "input_nc" in fields:
        sizes["input_nc"] = int(first.shape[1])
    outputs = sorted({int(last.shape[0]), int(last.shape[1]), 3, 1}) if "output_nc" in fields else [None]
    for out_nc in outputs:
        trial = {**values, **sizes, **({"output_nc": out_nc} if out_nc is not None else {})}
        module = _build_meta(spec, trial)
        if module is None:
            continue
        own = module.state_dict()
        adapted = adapt_state_dict(module, state_dict)
        if set(own) == set(adapted) and all(tuple(own[k].shape) == tuple(v.shape) for k, v in adapted.items()):
            defaults = spec.make_config({}).model_dump()
            return {k: v for k, v in trial.items() if defaults.get(k) != v}
    return None


# --------------------------------------------------------------------------- importing


def import_component(
    path: Path | str,
    name: str,
    *,
    kind: str = "generator",
    config: Mapping[str, Any] | None = None,
    part: str | None = None,
    registry: Any = None,
    device: torch.device | str = "cpu",
) -> nn.Module:
    """Build the registered ``kind`` ``name`` with ``config`` and load a reference checkpoint
    into it, strictly; returned in eval mode on ``device``.

    ``part`` picks one state dict of a file that holds several (UNIT's ``"a"``/``"b"``).
    """
    if registry is None:
        from ganzoo.plugins import get_registry

        registry = get_registry()
    spec = registry.get(kind, name)
    try:
        cfg = spec.make_config(dict(config or {}))
    except ValidationError as exc:
        first = exc.errors()[0]
        raise GanzooError(f"{kind} {name}: {'.'.join(map(str, first['loc']))}: {first['msg']}") from None
    parts = state_dicts_in(read_checkpoint(path))
    sd = select_state_dict(parts, part, str(path))
    module = spec.build(cfg)
    values = {k: v for k, v in cfg.model_dump().items() if k in (config or {})}
    what = f"{kind} '{name}'" + (f" ({', '.join(f'{k}={v}' for k, v in values.items())})" if values else "")
    label = f"{path}" + (f" [part {part}]" if part else "")
    load_strict(module, sd, source=label, what=what, kind=kind, registry=registry)
    return module.to(device).eval()


def load_method_generators(method: nn.Module, sources: Mapping[str, Mapping[str, Tensor]], *,
                           source: str = "checkpoint", registry: Any = None) -> None:
    """Load state dicts into a method's generators by name (``{"G_A": sd, "G_B": sd}``), each strictly."""
    gens = method.generators()
    for name, sd in sources.items():
        if name not in gens:
            raise CheckpointError(f"{source}: the method has no generator '{name}' (it has: {', '.join(gens)})")
        load_strict(gens[name], sd, source=f"{source} [{name}]", what=f"generator {name}", kind="generator",
                    registry=registry)


def match_parts(parts: Mapping[str, StateDict], names: list[str]) -> dict[str, StateDict]:
    """Pair state dicts with a method's generator names, case-insensitively: a part named like a
    generator, a generator named ``<x>_<part>`` (UNIT's ``{"a", "b"}`` -> ``gen_a``, ``gen_b``), or
    a part named ``<x>_<generator>`` (file stems: ``latest_net_G_A`` -> ``G_A``)."""
    out: dict[str, StateDict] = {}
    for part, sd in parts.items():
        p = part.lower()
        hits = [n for n in names if n.lower() == p]
        hits = hits or [n for n in names if n.lower().endswith("_" + p) or p.endswith("_" + n.lower())]
        if len(hits) == 1:
            out[hits[0]] = sd
    return out


def build_reference_method(
    method: str,
    files: list[Path | str],
    *,
    generator: str | None = None,
    generator_config: Mapping[str, Any] | None = None,
    registry: Any = None,
) -> nn.Module:
    """A registered method whose generators are loaded from reference files, for translating
    with the method's own ``translate`` (UNIT needs one domain's encoder and the other's decoder).

    Each file's state dicts are matched to the method's generators by :func:`match_parts`
    (UNIT's ``gen_*.pt`` holds both; CycleGAN's ``latest_net_G_A.pth``/``..._G_B.pth`` one each).
    Only the generators must fit; the other networks keep their initial weights, unused.
    """
    if registry is None:
        from ganzoo.plugins import get_registry

        registry = get_registry()
    from ganzoo.recipe import resolve

    table: dict[str, Any] = {"method": {"type": method}, "data": {"type": "procedural"}}
    slots = getattr(registry.get("method", method).cls, "slots", {})
    slot = next((name for name, s in slots.items() if s.kind == "generator"), None)
    if slot is not None and (generator or generator_config):
        table[slot] = {**({"type": generator} if generator else {}), **dict(generator_config or {})}
    built = resolve(table, registry, check_data=False).build_method()
    names = list(built.generators())
    assigned: dict[str, StateDict] = {}
    for path in map(Path, files):
        parts = state_dicts_in(read_checkpoint(path))
        if list(parts) == [""]:
            parts = {path.stem: parts[""]}
        matched = match_parts(parts, names)
        if not matched:
            raise CheckpointError(f"{path}: cannot tell which of the method's generators ({', '.join(names)}) "
                                  f"its state dicts ({', '.join(parts)}) belong to; name the file after one")
        assigned.update(matched)
    missing = [n for n in names if n not in assigned]
    if missing:
        raise CheckpointError(f"no weights given for generator(s) {', '.join(missing)} of method '{method}'")
    load_method_generators(built, assigned, source=", ".join(map(str, files)), registry=registry)
    return built.eval()
