"""Recipe files: TOML that chooses and configures components, validated in two phases.

Phase 1 checks the skeleton (the ``run``, ``train``, ``method`` and ``data`` tables, and which
other tables may exist); phase 2 validates each component table against that component's own
config model. Errors carry the dotted path the user wrote (pydantic's discriminated unions
would put the tag in the path), all of them are reported at once, and each unknown name or
key gets a "did you mean".
"""

from __future__ import annotations

import sys
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from pydantic import BaseModel, ValidationError

from ganzoo import renamed
from ganzoo.components import Dataset, Method
from ganzoo.engine.config import SECTIONS, InitSection, RunSection, TrainSection
from ganzoo.errors import DataError, RecipeError, RecipeIssue, UnknownComponentError, did_you_mean
from ganzoo.overrides import Overrides, apply_overrides, data_folder_changes, parse_changes
from ganzoo.registry import ComponentSpec, Registry

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover
    import tomli as tomllib


COMPONENT_TABLES = {"method": "method", "data": "dataset"}


@dataclass
class ResolvedComponent:
    """A chosen component with its validated config."""

    slot: str
    spec: ComponentSpec
    config: BaseModel

    def table(self) -> dict[str, Any]:
        return {"type": self.spec.name, **self.config.model_dump(mode="json", exclude_none=True)}

    def build(self, **kwargs: Any) -> Any:
        if self.spec.kind == "loss":
            kwargs.setdefault("name", self.slot)
        return self.spec.build(self.config, **kwargs)

    def variant(self, **changes: Any) -> Any:
        """A fresh instance, with ``changes`` applied to a validated copy of the config."""
        if not changes:
            return self.build()
        config = self.spec.config.model_validate({**self.config.model_dump(), **changes})
        return ResolvedComponent(self.slot, self.spec, config).build()


@dataclass
class ResolvedRecipe:
    source: Path | None
    run: RunSection
    train: TrainSection
    method: ResolvedComponent
    data: ResolvedComponent
    slots: dict[str, ResolvedComponent] = field(default_factory=dict)
    notes: list[str] = field(default_factory=list)
    """What the command line's changes did beyond setting values (dropped fields, a new run name)."""
    warnings: list[str] = field(default_factory=list)
    """Problems that do not stop training but change what it measures (no test split)."""
    init: InitSection = field(default_factory=InitSection)
    """Where a new run's generators start from (``[init] from = "runs/..."``)."""

    @property
    def name(self) -> str:
        return self.run.name or (self.source.stem if self.source else self.method.spec.name)

    def to_dict(self) -> dict[str, Any]:
        """The fully resolved recipe (every default written out); re-runnable as a file."""
        return {
            "run": self.run.model_dump(mode="json", exclude_none=True),
            "train": self.train.model_dump(mode="json", exclude_none=True),
            "method": self.method.table(),
            "data": self.data.table(),
            **{slot: comp.table() for slot, comp in self.slots.items()},
            **({"init": self.init.model_dump(mode="json", by_alias=True, exclude_none=True)}
               if self.init.from_ else {}),
        }

    def to_toml(self) -> str:
        import tomli_w

        return tomli_w.dumps(self.to_dict())

    def parts(self) -> dict[str, Callable[..., Any]]:
        """Slot -> factory: ``parts["generator"]()`` builds the configured component, and keyword
        arguments change config fields of that one instance (``input_nc=1``), validated."""
        return {slot: comp.variant for slot, comp in self.slots.items()}

    def build_method(self, *, init: bool = False) -> Method:
        """The method with fresh weights; ``init``: its generators loaded from ``[init] from``
        (what a new training run does; a resumed or loaded run has its own weights)."""
        method = self.method.spec.cls(self.method.config, self.parts())
        if init and self.init.from_:
            from ganzoo.engine.init_from import init_generators

            init_generators(method, self.init)
        return method

    def build_dataset(self, split: str = "train") -> Dataset:
        return self.data.build(split=split)


# ---------------------------------------------------------------- reading and overriding


def read_toml(path: Path | str) -> dict[str, Any]:
    path = Path(path)
    if not path.is_file():
        from ganzoo.recipe_files import not_found_hint

        raise RecipeError([RecipeIssue("", f"recipe file not found{not_found_hint(path)}")], path)
    try:
        return tomllib.loads(path.read_text(encoding="utf-8"))
    except tomllib.TOMLDecodeError as exc:  # tomllib's message has the line, not the file
        raise RecipeError([RecipeIssue("", f"invalid TOML: {exc}")], path) from None
    except UnicodeDecodeError as exc:
        raise RecipeError([RecipeIssue("", f"not a UTF-8 text file ({exc.reason})")], path) from None


# ---------------------------------------------------------------- validation


def _fields_at(model: type[BaseModel], loc: Sequence[Any]) -> list[str]:
    """Field names of the (nested) model a pydantic error location points into."""
    for part in loc:
        info = model.model_fields.get(str(part))
        annotation = getattr(info, "annotation", None)
        if not (isinstance(annotation, type) and issubclass(annotation, BaseModel)):
            return []
        model = annotation
    return list(model.model_fields)


def _humanize(error: Mapping[str, Any]) -> str:
    msg = str(error["msg"])
    msg = msg.replace("Input should be", "must be").replace("Value error, ", "")
    msg = msg[:1].lower() + msg[1:]
    if "input" in error and not isinstance(error["input"], dict) and error["type"] != "missing":
        msg += f", got {error['input']!r}"
    return msg


def validation_issues(
    exc: ValidationError, model: type[BaseModel], prefix: str, origins: Mapping[str, str]
) -> list[RecipeIssue]:
    issues = []
    for error in exc.errors():
        loc = tuple(error["loc"])
        path = ".".join([prefix, *map(str, loc)]) if prefix else ".".join(map(str, loc))
        if error["type"] == "extra_forbidden":
            message = "unknown field" + did_you_mean(str(loc[-1]), _fields_at(model, loc[:-1]))
        elif error["type"] == "missing":
            message = "required field is missing"
        else:
            message = _humanize(error)
        issues.append(RecipeIssue(path, message, _origin(path, origins)))
    return issues


def _origin(path: str, origins: Mapping[str, str]) -> str | None:
    for key, origin in origins.items():
        if path == key or path.startswith(key + ".") or key.startswith(path + "."):
            return origin
    return None


def _validate_model(
    model: type[BaseModel], values: Any, prefix: str, origins: Mapping[str, str], issues: list[RecipeIssue]
) -> BaseModel | None:
    if not isinstance(values, dict):
        issues.append(RecipeIssue(prefix, f"must be a table, got {values!r}", _origin(prefix, origins)))
        return None
    try:
        return model.model_validate(values)
    except ValidationError as exc:
        issues.extend(validation_issues(exc, model, prefix, origins))
        return None


def _choose(
    registry: Registry, kind: str, table: str, values: Any, default: str | None,
    origins: Mapping[str, str], issues: list[RecipeIssue],
) -> tuple[ComponentSpec | None, dict[str, Any]]:
    if not isinstance(values, dict):
        issues.append(RecipeIssue(table, f"must be a table, got {values!r}", _origin(table, origins)))
        return None, {}
    values = dict(values)
    name = values.pop("type", default)
    path = f"{table}.type"
    if name is None:
        issues.append(RecipeIssue(path, f"required: which {kind} to use (see: ganzoo list-components {kind})",
                                  _origin(path, origins)))
        return None, values
    if not isinstance(name, str):
        issues.append(RecipeIssue(path, f"must be a {kind} name, got {name!r}", _origin(path, origins)))
        return None, values
    try:
        return registry.get(kind, name), values
    except UnknownComponentError as exc:
        issues.append(RecipeIssue(path, str(exc), _origin(path, origins)))
        return None, values


def resolve(
    data: Mapping[str, Any],
    registry: Registry,
    *,
    source: Path | None = None,
    origins: Mapping[str, str] | None = None,
    check_data: bool = True,
) -> ResolvedRecipe:
    """Validate a parsed recipe against the registry; raises RecipeError with every issue."""
    origins = origins or {}
    issues: list[RecipeIssue] = []
    warnings: list[str] = []
    sections = {name: _validate_model(model, data.get(name, {}), name, origins, issues)
                for name, model in SECTIONS.items()}

    train = sections["train"]
    for where in ("eval_metrics", "eval_options"):
        for name in (getattr(train, where) or ()) if isinstance(train, TrainSection) else ():
            if ("metric", name) not in registry:
                error = UnknownComponentError("metric", name, registry.names("metric"))
                issues.append(RecipeIssue(f"train.{where}", str(error), _origin(f"train.{where}", origins)))
    for old, new in renamed.TABLES.items():
        if old in data and new not in data:
            issues.append(RecipeIssue(old, renamed.renamed_table(old), _origin(old, origins)))
            data = {(new if k == old else k): v for k, v in data.items()}
    method_spec, method_values = _choose(registry, "method", "method", data.get("method", {}), None,
                                         origins, issues)
    data_spec, data_values = _choose(registry, "dataset", "data", data.get("data", {}), None, origins, issues)

    slots = dict(getattr(method_spec.cls, "slots", {})) if method_spec else {}
    known = [*SECTIONS, *COMPONENT_TABLES, *slots]
    for key in data:
        if key not in known and method_spec is not None:
            hint = did_you_mean(key, known)
            listing = ", ".join(slots) or "none"
            issues.append(RecipeIssue(key, f"unknown table{hint} (method '{method_spec.name}' has slots: "
                                           f"{listing})", _origin(key, origins)))

    method_config = data_config = None
    if method_spec:
        method_config = _validate_model(method_spec.config, method_values, "method", origins, issues)
    if data_spec:
        data_config = _validate_model(data_spec.config, data_values, "data", origins, issues)
        if data_config is not None and check_data:
            try:
                data_spec.cls.check_source(data_config, "train")
            except DataError as exc:
                issues.append(RecipeIssue("data", str(exc), _origin("data", origins)))
            else:
                problem = missing_test_split(data_spec.cls, data_config)
                if problem:
                    warnings.append(f"data: {problem}")

    if method_config is not None and data_config is not None:
        from ganzoo.data.labels import label_issues

        for where, message in label_issues(method_spec.name, method_spec.cls, method_config, data_spec.name,
                                           data_spec.cls, data_config, check_data=check_data):
            issues.append(RecipeIssue(where, message, _origin(where, origins)))

    resolved_slots: dict[str, ResolvedComponent] = {}
    for slot_name, slot in slots.items():
        spec, values = _choose(registry, slot.kind, slot_name, data.get(slot_name, {}), slot.default,
                               origins, issues)
        if spec is None:
            continue
        # The method's preferred values (e.g. cycle weight 10) apply to whichever component fills
        # the slot, for the fields it has; the user's values win.
        preferred = {k: v for k, v in slot.defaults.items() if k in spec.config.model_fields}
        config = _validate_model(spec.config, {**preferred, **values}, slot_name, origins, issues)
        if config is not None:
            resolved_slots[slot_name] = ResolvedComponent(slot_name, spec, config)

    if issues:
        raise RecipeError(issues, source)
    assert method_spec and data_spec and method_config is not None and data_config is not None
    return ResolvedRecipe(
        source=source,
        run=sections["run"],  # type: ignore[arg-type]
        train=sections["train"],  # type: ignore[arg-type]
        method=ResolvedComponent("method", method_spec, method_config),
        data=ResolvedComponent("data", data_spec, data_config),
        slots=resolved_slots,
        warnings=warnings,
        init=sections["init"],  # type: ignore[arg-type]
    )


def missing_test_split(cls: type[Dataset], config: BaseModel) -> str | None:
    """Why a data set's test split cannot be used, with what that costs, or None when it can.

    Training needs only the train split, so a missing test folder is no error; but a run
    without one is never evaluated, which the user must hear before training, not after."""
    if "test" not in getattr(cls, "splits", ("train", "test")):
        problem = f"data set '{getattr(cls, '__name__', cls)}' has no test split"
    else:
        try:
            cls.check_source(config, "test")
            return None
        except DataError as exc:
            problem = "no usable test split: " + str(exc).splitlines()[0]
    return (f"{problem}. Training can proceed, but nothing is measured on test data: no evaluation during "
            "training (train.eval_metrics), no checkpoints/best, and ganzoo evaluate needs a test split")


def load_recipe(
    path: Path | str,
    overrides: Overrides = (),
    registry: Registry | None = None,
    *,
    check_data: bool = True,
    unset: Sequence[str] = (),
    data: Path | str | None = None,
) -> ResolvedRecipe:
    """Read, override and validate a recipe file (``overrides``, ``unset`` and ``data``: see
    :mod:`ganzoo.overrides`). ``path`` is a file, or a recipe's name (``ganzoo run quickstart``)."""
    from ganzoo.recipe_files import find

    path = find(path)
    return recipe_from_dict(read_toml(path), overrides, registry, source=path, check_data=check_data, unset=unset,
                            data=data)


def recipe_from_dict(
    raw: Mapping[str, Any],
    overrides: Overrides = (),
    registry: Registry | None = None,
    *,
    source: Path | None = None,
    check_data: bool = True,
    unset: Sequence[str] = (),
    data: Path | str | None = None,
) -> ResolvedRecipe:
    """Override and validate a parsed recipe (a file's tables as a dict)."""
    if registry is None:
        from ganzoo.plugins import get_registry

        registry = get_registry()

    def fields_of(recipe: Mapping[str, Any], table: str, name: str) -> set[str] | None:
        return component_fields(registry, recipe, table, name)

    try:
        changes = parse_changes(overrides)
        if data is not None:  # first, so that --set can still change what --data set
            changes = [*data_folder_changes(raw, data, fields_of), *changes]
        overridden = apply_overrides(raw, changes, unset, fields_of=fields_of)
    except RecipeError as exc:
        raise RecipeError(exc.issues, source) from None
    resolved = resolve(overridden.data, registry, source=source, origins=overridden.origins, check_data=check_data)
    resolved.notes = overridden.notes
    return resolved


def component_fields(registry: Registry, recipe: Mapping[str, Any], table: str, name: str) -> set[str] | None:
    """Field names of component ``name`` chosen in ``table`` (a slot's kind comes from the
    recipe's method), or None when that is unknown."""
    kind = COMPONENT_TABLES.get(table)
    try:
        if kind is None:
            method = recipe.get("method", {}).get("type")
            slot = getattr(registry.get("method", method).cls, "slots", {}).get(table)
            kind = slot.kind if slot is not None else None
        return set(registry.get(kind, name).config.model_fields) if kind else None
    except (UnknownComponentError, AttributeError, TypeError):
        return None
