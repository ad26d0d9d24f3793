"""The base of every component's configuration.

A component's pydantic config is the single source of truth for its hyper-parameters: the
recipe validator, ``ganzoo describe`` and the generated docs all read it.
"""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, ConfigDict


class ComponentConfig(BaseModel):
    """Base for component configs: unknown keys are errors, defaults are documented fields."""

    model_config = ConfigDict(extra="forbid", validate_assignment=True, protected_namespaces=())

    def merged(self, **changes: Any) -> ComponentConfig:
        """A validated copy with ``changes`` applied (``model_copy`` would skip validation)."""
        return type(self).model_validate({**self.model_dump(), **changes})
