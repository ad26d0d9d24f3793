"""Names that changed between plugin API versions, and the one message each old use gets.

API 2 calls the training algorithm a *method* (``ganzoo.Method``, the ``[method]`` table,
``registrar.method``) so that *recipe* means only the TOML file. A plugin or recipe written for
API 1 must not fail with an AttributeError deep in a traceback: each old name is answered with
what to rename, in one line, wherever it is used (import, registration, recipe table).
"""

from __future__ import annotations

from ganzoo.errors import GanzooError

API_NAMES = {"Recipe": "Method", "RecipeConfig": "MethodConfig"}
"""Old public name -> new public name (``ganzoo.Recipe`` -> ``ganzoo.Method``)."""

KINDS = {"recipe": "method"}
"""Old component kind -> new kind (``registrar.recipe`` -> ``registrar.method``)."""

TABLES = {"recipe": "method"}
"""Old recipe-file table -> new table (``[recipe]`` -> ``[method]``)."""


class RenamedError(GanzooError, AttributeError):
    """An old name was used; the message says what to write instead. An AttributeError too, so
    ``hasattr`` and ``getattr(x, name, default)`` keep working on the renamed names."""


def renamed_api(name: str) -> RenamedError:
    return RenamedError(f"ganzoo.{name} was renamed ganzoo.{API_NAMES[name]} in plugin API 2 "
                        f"(ganzoo 0.2); rename it in the plugin (ganzoo plugin check PATH lists every such name)")


def renamed_kind(kind: str) -> RenamedError:
    return RenamedError(f"component kind '{kind}' was renamed '{KINDS[kind]}' in plugin API 2 (ganzoo 0.2); "
                        f"register with registrar.{KINDS[kind]}(...) instead of registrar.{kind}(...)")


def renamed_table(table: str) -> str:
    return f"the [{table}] table was renamed [{TABLES[table]}] in ganzoo 0.2; rename it in this file"
