"""The registry of components: what each plugin offers, under which (kind, name).

Modelled on timm's registry for listing (glob filters) but populated only through the
plugin hooks, never by import side effects.

A component may be registered by import path (``"pkg.module:Class"``) instead of by class:
listing, ``ganzoo --help`` and completion then need neither the component's module nor torch,
and the class is imported, and checked as an eager registration is, when a command first uses
it (:attr:`ComponentSpec.cls`). This module itself imports neither torch nor pydantic.
"""

from __future__ import annotations

import ast
import fnmatch
import functools
import importlib
import importlib.util
import inspect
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from ganzoo import renamed
from ganzoo.errors import DuplicateComponentError, GanzooError, UnknownComponentError

if TYPE_CHECKING:
    from pydantic import BaseModel

    from ganzoo.config import ComponentConfig

KINDS: dict[str, str] = {
    "generator": "ganzoo.components:Generator",
    "discriminator": "ganzoo.components:Discriminator",
    "loss": "ganzoo.components:Loss",
    "method": "ganzoo.components:Method",
    "dataset": "ganzoo.components:Dataset",
    "metric": "ganzoo.metrics.base:Metric",
    "task_network": "ganzoo.components:TaskNetwork",
}
"""Kind -> import path of the base class its components subclass (imported when first checked)."""

Target = type | str
"""A class, or its import path ``"package.module:Name"`` (imported on first use)."""


def import_object(path: str) -> Any:
    """``"package.module:Name"`` (or ``"package.module.Name"``) -> that object."""
    module, sep, attr = path.partition(":")
    if not sep:
        module, _, attr = path.rpartition(".")
    if not module or not attr:
        raise GanzooError(f"'{path}' is not an import path like 'package.module:Name'")
    obj = importlib.import_module(module)
    for part in attr.split("."):
        obj = getattr(obj, part)
    return obj


def kind_base(kind: str) -> type:
    """The base class of a component kind (imports it, and with it torch)."""
    return import_object(KINDS[kind])


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
    recipe_folders: tuple[str, ...] = ()  # given by its recipe_folders hook

    @property
    def label(self) -> str:
        if self.dist and self.dist != self.name:
            return f"{self.name} ({self.dist} {self.version or ''})".replace(" )", ")")
        return f"{self.name} {self.version or ''}".strip()


@dataclass(frozen=True)
class ComponentSpec:
    """One registered component. ``target`` and ``config_target`` are what the plugin passed (a
    class or an import path); :attr:`cls` and :attr:`config` are the checked classes, resolved
    on first access."""

    kind: str
    name: str
    target: Target
    config_target: Target | None
    plugin: PluginInfo
    given_summary: str | None = None
    extra: Mapping[str, Any] = field(default_factory=dict)

    @property
    def lazy(self) -> bool:
        """Registered by import path and not imported yet."""
        return "_resolved" not in self.__dict__

    @functools.cached_property
    def _resolved(self) -> tuple[type, type[BaseModel]]:
        where = f"plugin {self.plugin.name}: {self.kind} '{self.name}'"
        try:
            cls = import_object(self.target) if isinstance(self.target, str) else self.target
            config = import_object(self.config_target) if isinstance(self.config_target, str) else self.config_target
        except GanzooError as exc:
            raise GanzooError(f"{where}: {exc}") from None
        except Exception as exc:  # noqa: BLE001 - a broken import path or module, said in one line
            raise GanzooError(f"{where}: cannot import it: {type(exc).__name__}: {exc}") from exc
        return cls, check_component(self.kind, cls, config, where)

    @property
    def cls(self) -> type:
        return self._resolved[0]

    @property
    def config(self) -> type[BaseModel]:
        return self._resolved[1]

    @functools.cached_property
    def summary(self) -> str:
        """The registration's summary, else the class docstring's first paragraph (read from the
        source for a component registered by path and not imported yet: listing stays light)."""
        if self.given_summary is not None:
            return self.given_summary
        if self.lazy and isinstance(self.target, str):
            found = _source_summary(self.target)
            if found is not None:
                return found
        return _summary(self.cls)

    def make_config(self, values: Mapping[str, Any] | None = None) -> BaseModel:
        return self.config.model_validate(dict(values or {}))

    def build(self, config: BaseModel | Mapping[str, Any] | None = None, **kwargs: Any) -> Any:
        from pydantic import BaseModel

        if not isinstance(config, BaseModel):
            config = self.make_config(config)
        built = self.cls(config, **kwargs)
        if self.kind == "discriminator" and getattr(config, "spectral_norm", False):
            from ganzoo.stabilisers import spectral_norm

            spectral_norm(built)  # here, so every discriminator has the option without its own code
        return built


def _summary(cls: type) -> str:
    return _first_paragraph(inspect.getdoc(cls) or "")


def _first_paragraph(doc: str) -> str:
    return doc.strip().split("\n\n")[0].replace("\n", " ")


def _source_summary(path: str) -> str | None:
    """The first docstring paragraph of the class at ``path``, read from its source file without
    importing it (or its package). None when that is not possible: no source file, or no
    docstring of its own (an inherited one needs the import)."""
    module, _, attr = path.partition(":")
    top, *rest = module.split(".")
    try:
        spec = importlib.util.find_spec(top)  # a top-level name is found without importing it
    except (ImportError, ValueError):
        return None
    if spec is None:
        return None
    if rest:
        if not spec.submodule_search_locations:
            return None
        base = Path(next(iter(spec.submodule_search_locations))).joinpath(*rest)
        candidates = [base.with_suffix(".py"), base / "__init__.py"]
    else:
        candidates = [Path(spec.origin)] if spec.origin else []
    source = next((f for f in candidates if f.is_file()), None)
    if source is None:
        return None
    try:
        tree = ast.parse(source.read_text(encoding="utf-8"))
    except (OSError, SyntaxError, ValueError):
        return None
    for node in tree.body:
        if isinstance(node, ast.ClassDef) and node.name == attr:
            doc = ast.get_docstring(node)
            return _first_paragraph(doc) if doc else None
    return None


def check_component(kind: str, cls: Any, config: Any, where: str) -> type[BaseModel]:
    """The checks every registration passes (eagerly for a class, on first use for an import
    path): ``cls`` subclasses its kind's base, and has a pydantic config model whose nested
    defaults hold for partial tables. Returns the config model."""
    from pydantic import BaseModel

    base = kind_base(kind)
    if not (isinstance(cls, type) and issubclass(cls, base)):
        raise GanzooError(f"{where} must be a subclass of ganzoo.{base.__name__}, got {cls!r}")
    config = config or getattr(cls, "Config", None)
    if not (isinstance(config, type) and issubclass(config, BaseModel)):
        raise GanzooError(f"{where} has no pydantic config model")
    drifted = _instance_default(config)
    if drifted:
        field_name, model = drifted
        raise GanzooError(
            f"{where}: the default of '{field_name}' is a {model.__name__} "
            f"with other values than {model.__name__}'s own defaults, which a partial [{kind}.{field_name}] "
            f"table would silently drop; subclass {model.__name__} with those field defaults and annotate "
            f"'{field_name}' with it (as ganzoo_unit's UNITOptimizerConfig does)")
    return config


def _instance_default(config: type[BaseModel]) -> tuple[str, type[BaseModel]] | None:
    """A nested-model field whose default instance differs from its model's field defaults.

    Defaults live in field declarations only (that is what validation fills in, and what
    ``describe`` and the reference show): ``Field(default_factory=lambda: OptimizerConfig(lr=1e-4))``
    would hold for a missing table but not for a table that gives only some keys."""
    from pydantic import BaseModel

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
        cls: Target,
        *,
        config: type[ComponentConfig] | str | None = None,
        summary: str | None = None,
        **extra: Any,
    ) -> None:
        """Register ``cls`` (a class, or its import path ``"package.module:Class"``, which keeps
        the module, and torch, unimported until the component is used; give ``summary`` then,
        or listing imports it for the docstring)."""
        spec = ComponentSpec(kind, name, cls, config, self.plugin, summary, extra)
        if kind in KINDS and not isinstance(cls, str) and not isinstance(config, str):
            spec.config  # noqa: B018 - a class is checked now, so a bad one fails its plugin's load
        self._registry.add(spec)
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
