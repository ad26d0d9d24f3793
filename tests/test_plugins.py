"""Plugin discovery, isolation of broken plugins, name clashes, strict mode, allow/deny lists."""

from __future__ import annotations

import pytest

from ganzoo.errors import DuplicateComponentError, GanzooError, PluginError, UnknownComponentError
from ganzoo.plugins import load_plugins

GOOD = '''
import ganzoo

class ThirdGen(ganzoo.Generator):
    """A third-party generator."""
    def forward(self, x):
        return x

@ganzoo.hookimpl
def register_components(registrar):
    registrar.generator("third_gen", ThirdGen)
'''

CLASH = '''
import ganzoo
from ganzoo_networks import ResnetGenerator, ResnetGeneratorConfig

@ganzoo.hookimpl
def register_components(registrar):
    registrar.generator("resnet_9blocks", ResnetGenerator, config=ResnetGeneratorConfig)
'''


def by_name(plugin_set, name):
    return next(p for p in plugin_set.plugins if p.name == name)


def test_builtin_plugins_register_through_entry_points():
    plugins = load_plugins()
    names = {p.name: p for p in plugins.plugins}
    for name in ("networks", "losses", "cyclegan"):
        assert names[name].status == "loaded", names[name].error
        assert names[name].dist == "ganzoo"
    spec = plugins.registry.get("generator", "resnet_9blocks")
    assert spec.plugin.name == "networks" and spec.plugin.version
    assert ("dataset", "procedural") in plugins.registry


def test_installed_distribution_is_discovered_with_provenance(fake_distribution):
    fake_distribution("ganzoo-third", {"third_plugin": GOOD}, {"third": "third_plugin"}, version="2.3")
    plugins = load_plugins()
    spec = plugins.registry.get("generator", "third_gen")
    assert (spec.plugin.name, spec.plugin.dist, spec.plugin.version) == ("third", "ganzoo-third", "2.3")
    assert spec.summary == "A third-party generator."
    assert by_name(plugins, "third").components == 1


def test_plugin_that_fails_to_import_is_isolated(fake_distribution):
    fake_distribution("ganzoo-broken", {"broken_plugin": "import does_not_exist_xyz\n"},
                      {"broken": "broken_plugin"})
    fake_distribution("ganzoo-third", {"third_plugin": GOOD}, {"third": "third_plugin"})
    plugins = load_plugins()
    broken = by_name(plugins, "broken")
    assert broken.status == "failed"
    assert "does_not_exist_xyz" in broken.error and "ModuleNotFoundError" in broken.error
    assert ("generator", "third_gen") in plugins.registry
    assert ("generator", "resnet_9blocks") in plugins.registry


def test_plugin_that_fails_while_registering_leaves_nothing_behind(fake_distribution):
    source = GOOD + "    raise RuntimeError('half way')\n"
    fake_distribution("ganzoo-half", {"half_plugin": source}, {"half": "half_plugin"})
    plugins = load_plugins()
    assert by_name(plugins, "half").status == "failed"
    assert "RuntimeError: half way" in by_name(plugins, "half").error
    assert ("generator", "third_gen") not in plugins.registry


def test_strict_mode_turns_a_failure_into_an_error(fake_distribution, monkeypatch):
    fake_distribution("ganzoo-broken", {"broken_plugin": "raise ImportError('nope')\n"},
                      {"broken": "broken_plugin"})
    monkeypatch.setenv("GANZOO_STRICT_PLUGINS", "1")
    with pytest.raises(PluginError, match=r"plugin broken \(ganzoo-broken 1.0\) failed to load: ImportError: nope"):
        load_plugins()


def test_name_clash_is_an_error_naming_both_plugins(fake_distribution):
    fake_distribution("ganzoo-clash", {"clash_plugin": CLASH}, {"clash": "clash_plugin"})
    plugins = load_plugins()
    clash = by_name(plugins, "clash")
    assert clash.status == "failed"
    assert "generator 'resnet_9blocks' is registered twice" in clash.error
    assert "networks (ganzoo" in clash.error and "clash (ganzoo-clash 1.0)" in clash.error
    # the first registration survives
    assert plugins.registry.get("generator", "resnet_9blocks").plugin.name == "networks"
    with pytest.raises(PluginError, match="registered twice") as info:
        load_plugins(strict=True)
    assert isinstance(info.value.__cause__, DuplicateComponentError)


def test_misspelt_hook_and_missing_decorator_are_reported(fake_distribution):
    misspelt = "import ganzoo\n@ganzoo.hookimpl\ndef register_component(registrar):\n    pass\n"
    undecorated = "def register_components(registrar):\n    pass\n"
    undecorated_commands = "def register_commands(cli):\n    pass\n"
    fake_distribution("ganzoo-typo", {"typo_plugin": misspelt, "plain_plugin": undecorated,
                                      "plaincli_plugin": undecorated_commands},
                      {"typo": "typo_plugin", "plain": "plain_plugin", "plaincli": "plaincli_plugin"})
    plugins = load_plugins()
    assert "register_component" in by_name(plugins, "typo").error
    assert "not decorated with @ganzoo.hookimpl" in by_name(plugins, "plain").error
    assert "register_commands is defined but not decorated" in by_name(plugins, "plaincli").error


def test_allow_and_deny_lists(fake_distribution, monkeypatch):
    fake_distribution("ganzoo-third", {"third_plugin": GOOD}, {"third": "third_plugin"})
    monkeypatch.setenv("GANZOO_DISABLE_PLUGINS", "third")
    plugins = load_plugins()
    assert by_name(plugins, "third").status == "disabled"
    assert ("generator", "third_gen") not in plugins.registry
    monkeypatch.delenv("GANZOO_DISABLE_PLUGINS")
    monkeypatch.setenv("GANZOO_PLUGINS", "third,losses")
    plugins = load_plugins()
    loaded = {p.name for p in plugins.plugins if p.status == "loaded"}
    assert loaded == {"ganzoo.data", "ganzoo.metrics", "third", "losses"}  # core plugins always load
    assert by_name(plugins, "networks").status == "disabled"


def test_unknown_component_suggests_and_points_to_listing():
    registry = load_plugins().registry
    with pytest.raises(UnknownComponentError) as info:
        registry.get("generator", "resnet9blocks")
    message = str(info.value)
    assert "unknown generator 'resnet9blocks'; did you mean 'resnet_9blocks'?" in message
    assert "(see: ganzoo list-components generator)" in message


def test_listing_filters_by_kind_and_glob():
    registry = load_plugins().registry
    names = [s.name for s in registry.list("generator", "*resnet*")]
    assert names == ["resnet_6blocks", "resnet_9blocks", "srresnet_16blocks", "unsb_resnet_9blocks"]
    assert [s.name for s in registry.list("generator", "resnet_*")] == ["resnet_6blocks", "resnet_9blocks"]
    assert all(s.kind == "loss" for s in registry.list("loss"))


def test_registrar_refuses_a_class_of_the_wrong_kind(fake_distribution):
    wrong = "import ganzoo\n@ganzoo.hookimpl\ndef register_components(registrar):\n" \
            "    registrar.generator('oops', dict)\n"
    fake_distribution("ganzoo-wrong", {"wrong_plugin": wrong}, {"wrong": "wrong_plugin"})
    error = by_name(load_plugins(), "wrong").error
    assert "must be a subclass of ganzoo.Generator" in error


LAZY = '''
import ganzoo

@ganzoo.hookimpl
def register_components(registrar):
    registrar.generator("lazy_gen", "lazy_gens:LazyGen")
    registrar.generator("typo_gen", "lazy_gens:NoSuchClass", summary="Registered with a wrong path.")
    registrar.generator("not_a_gen", "lazy_gens:NotAGenerator")
'''

LAZY_GENS = '''
import ganzoo

class LazyGen(ganzoo.Generator):
    """Imported only when used."""
    def forward(self, x):
        return x

class NotAGenerator:
    """Not a subclass of ganzoo.Generator."""
'''


def test_component_registered_by_path_loads_on_first_use(fake_distribution):
    import sys

    fake_distribution("ganzoo-lazy", {"lazy_plugin": LAZY, "lazy_gens": LAZY_GENS}, {"lazy": "lazy_plugin"})
    plugins = load_plugins()  # nothing is imported yet, so nothing fails yet
    spec = plugins.registry.get("generator", "lazy_gen")
    assert spec.lazy and "lazy_gens" not in sys.modules
    assert spec.summary == "Imported only when used." and "lazy_gens" not in sys.modules  # read from source
    assert spec.cls.__name__ == "LazyGen" and not spec.lazy
    assert spec.config.__name__ == "GeneratorConfig"
    assert spec.build().__class__.__name__ == "LazyGen"
    # a wrong path or class fails, saying which plugin and component, when it is used (and in
    # strict mode nothing else); the plugin's other components keep working
    with pytest.raises(GanzooError, match=r"plugin lazy: generator 'typo_gen': cannot import it: "
                                                    r"AttributeError"):
        plugins.registry.get("generator", "typo_gen").cls  # noqa: B018
    with pytest.raises(GanzooError, match=r"generator 'not_a_gen' must be a subclass of ganzoo.Generator"):
        plugins.registry.get("generator", "not_a_gen").config  # noqa: B018
    # strict mode (a plugin author's CI) imports and checks every path at load
    with pytest.raises(PluginError, match=r"plugin lazy .*failed to load: plugin lazy: generator 'not_a_gen' must be"):
        load_plugins(strict=True)
