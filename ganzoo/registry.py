"""The registry of components: what each plugin offers, under which (kind, name).

Modelled on timm's registry for listing (glob filters) but populated only through the
plugin hooks, never by import side effects.
"""

from __future__ import annotations

import fnmatch
import inspect
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from typing import Any

from pydantic import BaseModel

from ganzoo import renamed
from ganzoo.components import Dataset, Discriminator, Generator, Loss, Method
from ganzoo.config import ComponentConfig
from ganzoo.errors import DuplicateComponentError, GanzooError, UnknownComponentError
from ganzoo.metrics.base import Metric
from ganzoo.stabilisers import spectral_norm

KINDS: dict[str, type] = {
    "generator": Generator,
    "discriminator": Discriminator,
    "loss": Loss,
    "method": Method,
    "dataset": Dataset,
    "metric": Metric,
}


@dataclass(frozen=True)
class PluginInfo:
    """Where components came from: the plugin (entry-point) name, distribution and version."""

    name: str
    dist: str | None = None
    version: str | None = None
    module: str | None = None
    status: str = "loaded"  # loaded | failed | disabled
    error: str | None = None
    components: int = 0
    commands: tuple[str, ...] = ()  # added by its register_commands hook

    @property
    def label(self) -> str:
        if self.dist and self.dist != self.name:
            return f"{self.name} ({self.dist} {self.version or ''})".replace(" )", ")")
        return f"{self.name} {self.version or ''}".strip()


@dataclass(frozen=True)
class ComponentSpec:
    kind: str
    name: str
    cls: type
    config: type[BaseModel]
    plugin: PluginInfo
    summary: str = ""
    extra: Mapping[str, Any] = field(default_factory=dict)

    def make_config(self, values: Mapping[str, Any] | None = None) -> BaseModel:
        return self.config.model_validate(dict(values or {}))

    def build(self, config: BaseModel | Mapping[str, Any] | None = None, **kwargs: Any) -> Any:
        if not isinstance(config, BaseModel):
            config = self.make_config(config)
        built = self.cls(config, **kwargs)
        if self.kind == "discriminator" and getattr(config, "spectral_norm", False):
            spectral_norm(built)  # here, so every discriminator has the option without its own code
        return built


def _summary(cls: type) -> str:
    doc = inspect.getdoc(cls) or ""
    return doc.strip().split("\n\n")[0].replace("\n", " ")


def _instance_default(config: type[BaseModel]) -> tuple[str, type[BaseModel]] | None:
    """A nested-model field whose default instance differs from its model's field defaults.

    Defaults live in field declarations only (that is what validation fills in, and what
    ``describe`` and the reference show): ``Field(default_factory=lambda: OptimizerConfig(lr=1e-4))``
    would hold for a missing table but not for a table that gives only some keys."""
    for field_name, info in config.model_fields.items():
        model = info.annotation
        if not (isinstance(model, type) and issubclass(model, BaseModel)):
            continue
        try:
            default, plain = info.get_default(call_default_factory=True), model()
        except Exception:  # noqa: BLE001 - required fields: no defaults to compare
            continue
        if isinstance(default, BaseModel) and default != plain:
            return field_name, model
    return None


class Registry:
    def __init__(self) -> None:
        self._specs: dict[tuple[str, str], ComponentSpec] = {}

    def add(self, spec: ComponentSpec) -> None:
        if spec.kind in renamed.KINDS:
            raise renamed.renamed_kind(spec.kind)
        if spec.kind not in KINDS:
            raise GanzooError(
                f"plugin {spec.plugin.name}: unknown component kind '{spec.kind}' "
                f"(kinds: {', '.join(KINDS)})"
            )
        key = (spec.kind, spec.name)
        if key in self._specs:
            other = self._specs[key]
            raise DuplicateComponentError(
                f"{spec.kind} '{spec.name}' is registered twice: by plugin {other.plugin.label} "
                f"and by plugin {spec.plugin.label}; uninstall or disable one "
                f"(GANZOO_DISABLE_PLUGINS={spec.plugin.name})"
            )
        self._specs[key] = spec

    def get(self, kind: str, name: str) -> ComponentSpec:
        if kind in renamed.KINDS:
            raise renamed.renamed_kind(kind)
        try:
            return self._specs[(kind, name)]
        except KeyError:
            raise UnknownComponentError(kind, name, self.names(kind)) from None

    def __contains__(self, key: tuple[str, str]) -> bool:
        return key in self._specs

    def __iter__(self) -> Iterator[ComponentSpec]:
        return iter(sorted(self._specs.values(), key=lambda s: (list(KINDS).index(s.kind), s.name)))

    def __len__(self) -> int:
        return len(self._specs)

    def names(self, kind: str) -> list[str]:
        return sorted(name for k, name in self._specs if k == kind)

    def list(self, kind: str | None = None, pattern: str = "*") -> list[ComponentSpec]:
        """Components of ``kind`` (all kinds when None) whose name matches the glob ``pattern``."""
        return [s for s in self if (kind is None or s.kind == kind) and fnmatch.fnmatch(s.name, pattern)]

    def remove_plugin(self, plugin_name: str) -> None:
        """Drop everything a plugin registered (used when its hook fails half way)."""
        self._specs = {k: s for k, s in self._specs.items() if s.plugin.name != plugin_name}


class Registrar:
    """What a plugin's ``register_components`` hook receives: registration bound to that plugin."""

    def __init__(self, registry: Registry, plugin: PluginInfo):
        self._registry = registry
        self.plugin = plugin
        self.count = 0

    def component(
        self,
        kind: str,
        name: str,
        cls: type,
        *,
        config: type[ComponentConfig] | None = None,
        summary: str | None = None,
        **extra: Any,
    ) -> None:
        base = KINDS.get(kind)
        if base is not None and not (isinstance(cls, type) and issubclass(cls, base)):
            raise GanzooError(
                f"plugin {self.plugin.name}: {kind} '{name}' must be a subclass of "
                f"ganzoo.{base.__name__}, got {cls!r}"
            )
        config = config or getattr(cls, "Config", None)
        if not (isinstance(config, type) and issubclass(config, BaseModel)):
            raise GanzooError(f"plugin {self.plugin.name}: {kind} '{name}' has no pydantic config model")
        drifted = _instance_default(config)
        if drifted:
            field_name, model = drifted
            raise GanzooError(
                f"plugin {self.plugin.name}: {kind} '{name}': the default of '{field_name}' is a {model.__name__} "
                f"with other values than {model.__name__}'s own defaults, which a partial [{kind}.{field_name}] "
                f"table would silently drop; subclass {model.__name__} with those field defaults and annotate "
                f"'{field_name}' with it (as ganzoo_unit's UNITOptimizerConfig does)")
        self._registry.add(
            ComponentSpec(kind, name, cls, config, self.plugin, summary or _summary(cls), extra)
        )
        self.count += 1

    def generator(self, name: str, cls: type, **kw: Any) -> None:
        self.component("generator", name, cls, **kw)

    def discriminator(self, name: str, cls: type, **kw: Any) -> None:
        self.component("discriminator", name, cls, **kw)

    def loss(self, name: str, cls: type, **kw: Any) -> None:
        self.component("loss", name, cls, **kw)

    def method(self, name: str, cls: type, **kw: Any) -> None:
        self.component("method", name, cls, **kw)

    def __getattr__(self, name: str) -> Any:
        if name in renamed.KINDS:  # registrar.recipe(...) from an API 1 plugin
            raise renamed.renamed_kind(name)
        raise AttributeError(f"{type(self).__name__!r} object has no attribute {name!r}")

    def dataset(self, name: str, cls: type, **kw: Any) -> None:
        self.component("dataset", name, cls, **kw)

    def metric(self, name: str, cls: type, **kw: Any) -> None:
        self.component("metric", name, cls, **kw)
