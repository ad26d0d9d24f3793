"""API 2 renamed the training algorithm to *method*: every old name gets one message saying what
to rename, wherever it is used, and nothing else breaks."""

from __future__ import annotations

import pytest

import ganzoo
from ganzoo.errors import RecipeError
from ganzoo.recipe import load_recipe

OLD_PLUGIN = """\
import ganzoo
from ganzoo_cyclegan import CycleGAN

@ganzoo.hookimpl
def register_components(registrar):
    registrar.recipe("old_cyclegan", CycleGAN)
"""


def test_old_public_names_say_what_to_rename():
    assert ganzoo.API_VERSION == 2
    with pytest.raises(AttributeError, match=r"ganzoo.Recipe was renamed ganzoo.Method in plugin API 2"):
        ganzoo.Recipe  # noqa: B018
    with pytest.raises(ganzoo.GanzooError, match=r"ganzoo.RecipeConfig was renamed ganzoo.MethodConfig"):
        ganzoo.RecipeConfig  # noqa: B018
    assert not hasattr(ganzoo, "Recipe") and "Recipe" not in ganzoo.__all__
    with pytest.raises(AttributeError, match="has no attribute 'Nothing'"):
        ganzoo.Nothing  # noqa: B018


def test_a_recipe_file_with_the_old_table_gets_one_message(tmp_path):
    path = tmp_path / "old.toml"
    path.write_text('[recipe]\ntype = "cyclegan"\n[data]\ntype = "procedural"\n')
    with pytest.raises(RecipeError) as info:
        load_recipe(path)
    assert str(info.value).splitlines() == [
        f"{path}: recipe: the [recipe] table was renamed [method] in ganzoo 0.2; rename it in this file"]


def test_a_plugin_registering_the_old_kind_fails_alone_with_the_advice(ganzoo_cli, fake_distribution):
    fake_distribution("ganzoo-old", {"old_plugin": OLD_PLUGIN}, {"old": "old_plugin"})
    result = ganzoo_cli("list-components", "method")
    assert result.exit_code == 0 and "cyclegan" in result.stdout and "old_cyclegan" not in result.stdout
    assert "plugin old (ganzoo-old 1.0) failed to load: component kind 'recipe' was renamed 'method'" in result.stderr
    assert "registrar.method(...) instead of registrar.recipe(...)" in result.stderr


@pytest.mark.parametrize("args", [("list-components", "recipe"), ("describe", "recipe", "cyclegan")])
def test_the_old_kind_on_the_command_line(ganzoo_cli, args):
    result = ganzoo_cli(*args)
    assert result.exit_code == 2 and "Traceback" not in result.output
    assert "component kind 'recipe' was renamed 'method'" in result.stderr
