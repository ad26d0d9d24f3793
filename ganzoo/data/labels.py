"""Domain labels: whether a method and a data set agree on them, and the targets of a label.

A method declares the label kinds it trains with (:attr:`ganzoo.Method.needs_labels`); a data
set says which kind its items carry (:attr:`ganzoo.Dataset.label_kind`). Recipe validation
checks the two before anything is built and gives a multi-domain method the data set's domain
names (``method.domains``), so the number of domains is known when the networks are built and
the saved recipe of a run names them.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

import torch
from torch import Tensor

from ganzoo.errors import DataError, GanzooError

MULTIDOMAIN_DATA = "multidomain_procedural (built in), domain_folders (train/<domain>/) or celeba_attributes"
HAIR_COLOURS = ("Black_Hair", "Blond_Hair", "Brown_Hair", "Gray_Hair")
"""Attributes an image has exactly one of: a target that sets one clears the others (StarGAN)."""


def label_issues(method_name: str, method_cls: Any, method_config: Any, data_name: str, data_cls: Any,
                 data_config: Any, *, check_data: bool = True) -> list[tuple[str, str]]:
    """(recipe path, message) for every disagreement between the method's and the data's labels;
    fills an empty ``method.domains`` from the data set (only when ``check_data``)."""
    needs = tuple(getattr(method_cls, "needs_labels", ()))
    has = getattr(data_cls, "label_kind", None)
    if not needs and has:
        return [("data", f"method '{method_name}' translates between two domains (items with 'A' and 'B'), but "
                         f"data '{data_name}' is multi-domain (items labelled with '{has}'); choose a two-domain "
                         "data set (procedural, unpaired_folders, ...) or a multi-domain method (stargan)")]
    if not needs:
        return []
    if has not in needs:
        what = f"labelled with '{has}'" if has else "two-domain ('A' and 'B', no labels)"
        kinds = " or ".join(f"'{k}'" for k in needs)
        return [("data", f"method '{method_name}' trains on labelled images ({kinds} per item), but data "
                         f"'{data_name}' is {what}; use data.type = {MULTIDOMAIN_DATA}")]
    if not check_data or not hasattr(method_config, "domains"):
        return []
    try:
        names = list(data_cls.domain_names(data_config))
    except DataError:
        return []  # the data's own check reports where it is missing
    if not method_config.domains:
        method_config.domains = names
    elif list(method_config.domains) != names:
        return [("method.domains", f"the method's domains {method_config.domains} differ from the data's {names} "
                                   "(same names, same order); leave method.domains empty to take the data's")]
    return []


def domain_targets(kind: str, names: Sequence[str], label: Tensor) -> list[tuple[str, Tensor]]:
    """(column name, target label) to show one image in every domain: each domain index for
    ``domain`` labels; for ``attributes``, each attribute changed on its own (a hair colour set
    with the other hair colours cleared, any other attribute flipped), as StarGAN's samples."""
    if kind == "domain":
        return [(name, torch.tensor(d, dtype=torch.long)) for d, name in enumerate(names)]
    targets = []
    hair = [i for i, n in enumerate(names) if n in HAIR_COLOURS]
    for i, name in enumerate(names):
        target = label.float().clone()
        if i in hair:
            target[hair] = 0.0
            target[i] = 1.0
            targets.append((name, target))
        else:
            target[i] = 1.0 - target[i]
            targets.append((("no_" if label[i] > 0.5 else "") + name, target))
    return targets


def parse_target(spec: str, names: Sequence[str], kind: str) -> Tensor | dict[int, float]:
    """``translate --to``: a domain name (a long scalar), or attribute assignments
    ``Blond_Hair=1,Male=0`` (index -> value: the attributes not named keep each input's value)."""
    spec = spec.strip()
    if kind == "domain":
        if spec not in names:
            from ganzoo.errors import did_you_mean

            raise GanzooError(f"--to {spec!r}: not a domain of this model{did_you_mean(spec, list(names))} "
                              f"(domains: {', '.join(names)})")
        return torch.tensor(list(names).index(spec), dtype=torch.long)
    values: dict[int, float] = {}
    for part in filter(None, (p.strip() for p in spec.split(","))):
        name, sep, value = part.partition("=")
        if not sep or value.strip() not in ("0", "1") or name.strip() not in names:
            raise GanzooError(f"--to {spec!r}: expected attribute assignments NAME=0|1 separated by commas, with "
                              f"names among {', '.join(names)} (e.g. --to {names[0]}=1)")
        values[list(names).index(name.strip())] = float(value.strip())
    if not values:
        raise GanzooError(f"--to: no attribute assignment given (attributes: {', '.join(names)})")
    return values


def translate_target(method: Any, kind: str | None, spec: str) -> Tensor | Callable[[Tensor], Tensor]:
    """The ``target`` of ``translate --to SPEC`` for a trained multi-domain ``method`` whose data
    carried ``kind`` labels: a domain index, or for attribute assignments a function of the
    batch: each image's attributes as the method's classifier estimates them (``method.classify``,
    else all 0), with the named ones set; setting a hair colour clears the hair colours not named."""
    names = list(getattr(getattr(method, "config", None), "domains", None) or [])
    if not getattr(method, "needs_labels", ()) or not names or kind is None:
        raise GanzooError(f"--to: {type(method).__name__} translates between two domains; use --direction a2b|b2a")
    parsed = parse_target(spec, names, kind)
    if isinstance(parsed, Tensor):
        return parsed
    hair = [i for i, n in enumerate(names) if n in HAIR_COLOURS]
    cleared = [i for i in hair if i not in parsed] if any(parsed.get(i) == 1.0 for i in hair) else []

    def target(x: Tensor) -> Tensor:
        classify = getattr(method, "classify", None)
        labels = (classify(x) > 0.5).float() if classify else x.new_zeros(x.shape[0], len(names))
        labels[:, cleared] = 0.0
        for i, value in parsed.items():
            labels[:, i] = value
        return labels

    return target
