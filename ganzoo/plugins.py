"""Discovery and loading of plugins, each in isolation.

Entry points of the ``ganzoo`` group are loaded one by one (not with pluggy's
``load_setuptools_entrypoints``, which stops at the first broken plugin and silently drops a
second entry point of the same name). A plugin that fails (to import, or in one of its hooks:
``register_components``, ``register_commands``, ``recipe_folders``) is reported in one line, what it registered is
withdrawn and the rest keep working, unless ``GANZOO_STRICT_PLUGINS=1`` makes any failure an
error. The commands a plugin adds are kept in the :class:`PluginSet` for ``ganzoo.cli``.

Environment:
    GANZOO_PLUGINS          comma-separated allow list of plugin names (unset: all)
    GANZOO_DISABLE_PLUGINS  comma-separated deny list
    GANZOO_STRICT_PLUGINS   1/true: a plugin failure raises PluginError (and components
                            registered by import path are imported at load, to be checked)
"""

from __future__ import annotations

import functools
import importlib
import os
import types
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from importlib import metadata
from typing import Any

import pluggy

from ganzoo import hookspecs
from ganzoo.errors import GanzooError, PluginError
from ganzoo.registry import PluginInfo, Registrar, Registry

ENTRY_POINT_GROUP = "ganzoo"
CORE_PLUGINS = {"ganzoo.data": "ganzoo.data.builtin", "ganzoo.metrics": "ganzoo.metrics.builtin"}
"""Plugin name -> module of the core's own components (registered like pytest's built-ins)."""
HOOKS = frozenset(name for name, f in vars(hookspecs).items() if hasattr(f, f"{hookspecs.PROJECT}_spec"))
"""The hook names of the plugin contract (``register_components``, ``register_commands``)."""


def _env_list(name: str) -> set[str] | None:
    value = os.environ.get(name)
    if value is None:
        return None
    return {v.strip() for v in value.split(",") if v.strip()}


def strict_mode() -> bool:
    return os.environ.get("GANZOO_STRICT_PLUGINS", "").lower() in {"1", "true", "yes", "on"}


@dataclass
class PluginSet:
    """The loaded plugin manager, the registry it filled, the commands the plugins added (name ->
    click command, for ``ganzoo.cli``) and what happened to each plugin."""

    pm: pluggy.PluginManager
    registry: Registry
    plugins: list[PluginInfo] = field(default_factory=list)
    commands: dict[str, Any] = field(default_factory=dict)
    health_rules: dict[str, Any] = field(default_factory=dict)
    """Rule name -> function, added by the plugins' ``register_health_rules`` hooks."""

    @property
    def failed(self) -> list[PluginInfo]:
        return [p for p in self.plugins if p.status == "failed"]


def _isolate(exc: BaseException) -> None:
    """A plugin's failure is its own, whatever it raises: ``sys.exit()`` on import or a bare
    ``BaseException`` too (they would end every command silently). Ctrl-C stays an interrupt."""
    if isinstance(exc, KeyboardInterrupt):
        raise exc


def _describe_error(exc: BaseException) -> str:
    """One line; ganzoo's own errors are already sentences, others get their type name."""
    if isinstance(exc, SystemExit):
        return f"it called sys.exit({exc.code!r})"
    text = str(exc) if isinstance(exc, GanzooError) else f"{type(exc).__name__}: {exc}"
    return (text.strip().splitlines() or [type(exc).__name__])[0]


def _core_info(name: str) -> PluginInfo:
    from ganzoo import __version__

    return PluginInfo(name=name, dist="ganzoo", version=__version__, module=CORE_PLUGINS[name])


def _entry_point_info(ep: metadata.EntryPoint) -> PluginInfo:
    dist = getattr(ep, "dist", None)
    return PluginInfo(
        name=ep.name,
        dist=dist.name if dist is not None else None,
        version=dist.version if dist is not None else None,
        module=ep.value,
    )


def _entry_points() -> list[metadata.EntryPoint]:
    """Installed entry points in a fixed order (ganzoo's own first, then by distribution and
    name), so which side of a name clash loads first does not depend on sys.path order."""

    def key(ep: metadata.EntryPoint) -> tuple[bool, str, str]:
        dist = getattr(ep, "dist", None)
        name = dist.name if dist is not None else ""
        return (name != "ganzoo", name, ep.name)

    return sorted(metadata.entry_points(group=ENTRY_POINT_GROUP), key=key)


def load_plugins(
    entry_points: Iterable[metadata.EntryPoint] | None = None,
    extra: Sequence[tuple[PluginInfo, Any]] = (),
    *,
    strict: bool | None = None,
    include_core: bool = True,
) -> PluginSet:
    """Build a fresh plugin manager and registry (uncached: tests call this directly).

    ``extra`` adds already-imported plugin objects (modules or objects with hookimpls),
    which is how tests and the ``ganzoo.testing`` fixtures register throwaway plugins.
    """
    strict = strict_mode() if strict is None else strict
    allow, deny = _env_list("GANZOO_PLUGINS"), _env_list("GANZOO_DISABLE_PLUGINS") or set()
    pm = pluggy.PluginManager(hookspecs.PROJECT)
    pm.add_hookspecs(hookspecs)
    registry = Registry()
    result = PluginSet(pm, registry)

    candidates: list[tuple[PluginInfo, Any]] = []
    if include_core:
        candidates += [(_core_info(name), module) for name, module in CORE_PLUGINS.items()]
    eps = _entry_points() if entry_points is None else list(entry_points)
    candidates += [(_entry_point_info(ep), ep) for ep in eps]
    candidates += list(extra)

    seen: dict[str, PluginInfo] = {}
    for info, source in candidates:
        is_core = info.name in CORE_PLUGINS
        if not is_core and (info.name in deny or (allow is not None and info.name not in allow)):
            result.plugins.append(replace(info, status="disabled"))
            continue
        if info.name in seen:
            _fail(result, info, f"plugin name '{info.name}' is also used by {seen[info.name].label}", strict)
            continue
        plugin = None
        try:
            plugin = _import(source)
            pm.register(plugin, name=info.name)
            _check_hooks(pm, plugin)
        except BaseException as exc:  # noqa: BLE001 - any plugin failure is isolated
            _isolate(exc)
            if plugin is not None and pm.is_registered(plugin):
                pm.unregister(plugin)
            _fail(result, info, _describe_error(exc), strict, exc)
            continue
        seen[info.name] = info
        registrar = Registrar(registry, info)
        try:
            _call_hook(pm, plugin, "register_components", registrar=registrar)
            if strict:  # every failure is an error, so what was registered by import path is checked now
                for spec in registry.list():
                    if spec.plugin.name == info.name and spec.lazy:
                        spec.config  # noqa: B018 - imports and checks the class
            commands = _plugin_commands(pm, plugin, result)
            folders = tuple(str(folder) for result_ in _call_hook(pm, plugin, "recipe_folders") for folder in result_)
            rules = _plugin_rules(pm, plugin, result)
        except BaseException as exc:  # noqa: BLE001
            _isolate(exc)
            registry.remove_plugin(info.name)
            pm.unregister(plugin)
            _fail(result, info, _describe_error(exc), strict, exc)
            continue
        result.commands.update(commands)
        result.health_rules.update(rules)
        result.plugins.append(replace(info, components=registrar.count, commands=tuple(commands),
                                      recipe_folders=folders))
    return result


def _import(source: Any) -> Any:
    if isinstance(source, metadata.EntryPoint):
        return source.load()
    if isinstance(source, str):
        return importlib.import_module(source)
    return source


def _check_hooks(pm: pluggy.PluginManager, plugin: Any) -> None:
    """Catch the silent mistakes: a misspelt hook name, or a hook without ``@hookimpl``."""
    pm.check_pending()
    names = set(dir(plugin)) if isinstance(plugin, types.ModuleType) else set(dir(type(plugin)))
    for name in names & HOOKS:
        if not pm.parse_hookimpl_opts(plugin, name):
            raise GanzooError(f"{name} is defined but not decorated with @ganzoo.hookimpl")


def _impls(pm: pluggy.PluginManager, plugin: Any, hook: str) -> list[Any]:
    return [impl for impl in getattr(pm.hook, hook).get_hookimpls() if impl.plugin is plugin]


def _call_hook(pm: pluggy.PluginManager, plugin: Any, hook: str, **kwargs: Any) -> list[Any]:
    """Call one plugin's implementation of ``hook`` with the arguments it names (pluggy would
    call all plugins at once, with shared arguments); what it returns, if it has one."""
    return [impl.function(**{k: kwargs[k] for k in impl.argnames}) for impl in _impls(pm, plugin, hook)]


def _plugin_commands(pm: pluggy.PluginManager, plugin: Any, loaded: PluginSet) -> Mapping[str, Any]:
    """Name -> click command of what the plugin's ``register_commands`` adds to a typer app of
    its own (typer is imported only for a plugin that has the hook)."""
    if not _impls(pm, plugin, "register_commands"):
        return {}
    import typer

    cli = typer.Typer()
    try:
        _call_hook(pm, plugin, "register_commands", cli=cli)
        commands = typer.main.get_group(cli).commands
    except BaseException as exc:  # noqa: BLE001 - reported as the plugin's failure, saying where
        _isolate(exc)
        raise GanzooError(f"register_commands: {_describe_error(exc)}") from exc
    for name in commands:
        if name in loaded.commands:
            owner = next(p for p in loaded.plugins if name in p.commands)
            raise GanzooError(f"command '{name}' is also added by plugin {owner.label}")
    return commands


def _plugin_rules(pm: pluggy.PluginManager, plugin: Any, loaded: PluginSet) -> dict[str, Any]:
    """Name -> rule of what the plugin's ``register_health_rules`` adds."""
    if not _impls(pm, plugin, "register_health_rules"):
        return {}
    from ganzoo.engine.health_rules import BUILTIN_RULES

    rules: dict[str, Any] = {}
    _call_hook(pm, plugin, "register_health_rules", rules=rules)
    for name, rule in rules.items():
        if name in BUILTIN_RULES or name in loaded.health_rules:
            raise GanzooError(f"register_health_rules: rule '{name}' exists already")
        if not callable(rule):
            raise GanzooError(f"register_health_rules: rule '{name}' is not callable")
    return rules


def _fail(result: PluginSet, info: PluginInfo, message: str, strict: bool, exc: BaseException | None = None):
    failed = replace(info, status="failed", error=message)
    result.plugins.append(failed)
    if strict:
        raise PluginError(f"plugin {info.label} failed to load: {message}") from exc


@functools.lru_cache(maxsize=1)
def _cached() -> PluginSet:
    return load_plugins()


def get_plugins() -> PluginSet:
    """The process-wide plugin set, built on first use (never at import time)."""
    return _cached()


def get_registry() -> Registry:
    return get_plugins().registry


def reset() -> None:
    """Forget the cached plugin set (after installing a plugin in-process, or in tests)."""
    _cached.cache_clear()
