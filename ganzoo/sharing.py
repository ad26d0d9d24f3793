"""Model folders: a trained translation as a self-contained folder to share, and loading one back.

A run directory holds everything a run needs to continue (optimizer state, discriminators, logs);
a user who only wants to translate needs the generators, the recipe that rebuilds them, and enough
about the training to judge the model. That is a *model folder*, the format ``ganzoo push`` writes,
``ganzoo pretrained download`` converts published checkpoints into, and a Hugging Face model
repository holds (``hf://user/repo``):

* ``ganzoo-model.json``: the format marker; method, generators, directions, provenance, plugins;
* ``recipe.toml``: the resolved recipe (every default written out), which rebuilds the method;
* ``generators.safetensors``: the generators' weights, keyed ``<generator>.<parameter>``;
* ``README.md``: the model card (data, budget, metrics and their protocol, the recipe);
* ``metrics.json``, ``plugins.json`` and ``samples/``: when the run has them.

Loading reads only safetensors, TOML and JSON: a model folder never unpickles anything. The
discriminators are not part of it; a loaded method's other networks keep their initial weights
and only the directions whose generators were stored can be asked for.
"""

from __future__ import annotations

import json
import os
import shutil
import tempfile
import time
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from ganzoo.errors import CheckpointError, GanzooError

FORMAT = 1
MARKER = "ganzoo-model.json"
WEIGHTS = "generators.safetensors"
RECIPE = "recipe.toml"
CARD = "README.md"
HF_PREFIX = "hf://"
HUB_FILES = [MARKER, RECIPE, WEIGHTS, CARD, "metrics.json", "plugins.json"]
"""What loading from the hub fetches (the samples are left on the hub)."""


def is_model_folder(path: Path | str) -> bool:
    return (Path(path) / MARKER).is_file()


def read_marker(folder: Path) -> dict[str, Any]:
    try:
        meta = json.loads((folder / MARKER).read_text(encoding="utf-8"))
    except (OSError, ValueError) as exc:
        raise CheckpointError(f"{folder / MARKER}: not readable ({exc})") from None
    if not isinstance(meta, dict) or meta.get("format") != FORMAT:
        raise CheckpointError(f"{folder / MARKER}: not a ganzoo model folder of format {FORMAT} "
                              f"(format {meta.get('format') if isinstance(meta, dict) else '?'}); a newer ganzoo?")
    return meta


# --------------------------------------------------------------------------- writing


def write_model_folder(
    dest: Path | str,
    *,
    method: Any,
    recipe_toml: str,
    generators: Sequence[str] | None = None,
    directions: Sequence[str] | None = None,
    info: Mapping[str, Any] | None = None,
    card: str = "",
    metrics: Mapping[str, Any] | None = None,
    plugins: Mapping[str, Any] | None = None,
    samples: Sequence[Path] = (),
    overwrite: bool = False,
) -> Path:
    """Write a model folder for ``method`` at ``dest``, atomically (a temporary folder renamed
    into place). ``generators``: which of the method's generators hold trained weights (default
    all); ``directions``: what they translate (default the method's). ``dest`` must not exist or
    be empty, or be a model folder and ``overwrite`` set: no other files are ever replaced."""
    from safetensors.torch import save_file

    dest = Path(dest)
    check_destination(dest, overwrite=overwrite)
    gens = dict(method.generators())
    names = list(generators or gens)
    unknown = [n for n in names if n not in gens]
    if unknown:
        raise GanzooError(f"the method has no generator {', '.join(unknown)} (it has: {', '.join(gens)})")
    tensors = {f"{name}.{key}": value.detach().cpu().contiguous().clone()
               for name in names for key, value in gens[name].state_dict().items()}
    meta = {"format": FORMAT, "method": _method_name(method, recipe_toml), "generators": names,
            "directions": list(directions or getattr(method, "directions", ("a2b", "b2a"))),
            "created": time.strftime("%Y-%m-%dT%H:%M:%S%z"), **dict(info or {})}
    dest.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=f".{dest.name}.", dir=dest.parent))
    try:
        save_file(tensors, str(tmp / WEIGHTS), metadata={"format": f"ganzoo-model/{FORMAT}"})
        (tmp / RECIPE).write_text(recipe_toml, encoding="utf-8")
        (tmp / MARKER).write_text(json.dumps(meta, indent=2) + "\n", encoding="utf-8")
        if card:
            (tmp / CARD).write_text(card, encoding="utf-8")
        if metrics:
            (tmp / "metrics.json").write_text(json.dumps(metrics, indent=2) + "\n", encoding="utf-8")
        if plugins:
            (tmp / "plugins.json").write_text(json.dumps(plugins, indent=2) + "\n", encoding="utf-8")
        for sample in samples:
            (tmp / "samples").mkdir(exist_ok=True)
            shutil.copy2(sample, tmp / "samples" / sample.name)
        if dest.exists():
            shutil.rmtree(dest) if dest.is_dir() else dest.unlink()
        os.replace(tmp, dest)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    return dest


def check_destination(dest: Path, *, overwrite: bool = False) -> None:
    """Refuse a destination that holds anything but an earlier model folder (replaced only with
    ``overwrite``), so that writing a model never deletes a user's files."""
    if not dest.exists():
        return
    if not dest.is_dir():
        raise GanzooError(f"{dest}: is a file; choose a folder that does not exist yet")
    if not any(dest.iterdir()):
        return
    if not is_model_folder(dest):
        raise GanzooError(f"{dest}: is not empty and holds no model ({MARKER} missing); choose a new folder")
    if not overwrite:
        raise GanzooError(f"{dest}: already holds a model; replace it with --overwrite, or choose a new folder")


def _method_name(method: Any, recipe_toml: str) -> str:
    try:
        import tomllib
    except ImportError:  # Python 3.10
        import tomli as tomllib
    try:
        return str(tomllib.loads(recipe_toml)["method"]["type"])
    except (KeyError, TypeError, ValueError):
        return type(method).__name__.lower()


# --------------------------------------------------------------------------- loading


def load_model_folder(folder: Path | str, *, device: Any = "cpu") -> tuple[Any, Any, Path]:
    """(resolved recipe, method in eval mode, folder) from a model folder, the way
    :func:`ganzoo.engine.loading.load_trained` returns a run's."""
    from safetensors.torch import load_file

    from ganzoo.recipe import load_recipe

    folder = Path(folder)
    meta = read_marker(folder)
    try:
        resolved = load_recipe(folder / RECIPE, check_data=False)
    except GanzooError as exc:
        made_with = ", ".join(f"{p.get('name')} {p.get('version')}" for p in meta.get("plugins", [])
                              if isinstance(p, dict))
        raise GanzooError(f"{folder}: its recipe does not load here: {exc}"
                          + (f"\nthe model was made with the plugins: {made_with}" if made_with else "")) from None
    method = resolved.build_method()
    gens = dict(method.generators())
    path = folder / WEIGHTS
    try:
        tensors = load_file(str(path))
    except Exception as exc:  # noqa: BLE001 - a missing, truncated or foreign file
        raise CheckpointError(f"{path}: cannot be read as safetensors ({type(exc).__name__}: {exc})") from None
    names = list(meta.get("generators") or gens)
    for name in names:
        if name not in gens:
            raise CheckpointError(f"{folder}: weights of generator {name}, which method "
                                  f"{meta.get('method')} does not have (it has: {', '.join(gens)})")
        prefix = f"{name}."
        state = {k[len(prefix):]: v for k, v in tensors.items() if k.startswith(prefix)}
        try:
            gens[name].load_state_dict(state, strict=True)
        except RuntimeError as exc:
            raise CheckpointError(f"{path}: generator {name} does not fit the recipe's network: "
                                  f"{str(exc).splitlines()[0]}") from None
    if set(names) != set(gens):  # some generators were not stored: only their directions work
        method.directions = tuple(meta.get("directions") or ("a2b",))
    return resolved, method.to(device).eval(), folder


# --------------------------------------------------------------------------- the hub


def is_hub_source(source: str | Path) -> bool:
    """``hf://user/repo`` (also as a :class:`Path` made of it, which folds ``//`` into ``/``)."""
    return str(source).startswith(("hf://", "hf:/"))


def parse_hub_source(source: str | Path) -> tuple[str, str | None]:
    """``hf://user/repo[@revision]`` -> (``user/repo``, revision or None)."""
    text = str(source)
    rest = text[len("hf://"):] if text.startswith("hf://") else text[len("hf:/"):]
    repo, _, revision = rest.strip("/").partition("@")
    if repo.count("/") != 1 or not all(repo.split("/")):
        raise GanzooError(f"{text}: expected hf://USER/REPO (or hf://USER/REPO@REVISION)")
    return repo, revision or None


def hub_module() -> Any:
    """huggingface_hub, imported only when a hub source or destination is used (it is no
    dependency of ganzoo)."""
    try:
        import huggingface_hub
    except ImportError:
        raise GanzooError("hf:// needs the huggingface_hub package, which is not installed: "
                          "pip install huggingface_hub (and log in with: huggingface-cli login)") from None
    return huggingface_hub


def download_from_hub(source: str | Path) -> Path:
    """The local copy of a model folder on the hub (huggingface_hub's cache), fetched if needed."""
    repo, revision = parse_hub_source(source)
    hub = hub_module()
    try:
        folder = Path(hub.snapshot_download(repo_id=repo, revision=revision, allow_patterns=HUB_FILES))
    except Exception as exc:  # noqa: BLE001 - offline, no such repository, no access
        raise GanzooError(f"{source}: could not be fetched from the Hugging Face hub ({type(exc).__name__}: "
                          f"{str(exc).splitlines()[0] if str(exc) else ''}); check the name, the network "
                          "and your login, or download the repository and give its folder instead") from None
    if not is_model_folder(folder):
        raise GanzooError(f"{source}: the repository holds no ganzoo model ({MARKER} missing); ganzoo loads "
                          "only folders written by ganzoo push")
    return folder


def upload_to_hub(folder: Path, dest: str, *, private: bool = False, message: str | None = None) -> str:
    """Upload a model folder to ``hf://user/repo`` (created if needed); returns the repository's URL."""
    repo, revision = parse_hub_source(dest)
    hub = hub_module()
    api = hub.HfApi()
    try:
        api.create_repo(repo_id=repo, repo_type="model", private=private, exist_ok=True)
        api.upload_folder(folder_path=str(folder), repo_id=repo, repo_type="model", revision=revision,
                          commit_message=message or "ganzoo push")
    except Exception as exc:  # noqa: BLE001 - offline, not logged in, no write access
        raise GanzooError(f"upload to {dest} failed ({type(exc).__name__}: "
                          f"{str(exc).splitlines()[0] if str(exc) else ''}); the model folder is complete at "
                          f"{folder}: upload it by hand, or log in (huggingface-cli login) and run again") from None
    return f"https://huggingface.co/{repo}"
