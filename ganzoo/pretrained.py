"""Published models by name: the catalogue, and fetching one into a ready model folder.

``ganzoo pretrained download horse2zebra`` (or the first ``ganzoo translate horse2zebra ...``)
downloads the publisher's file through the project's one resumable downloader
(:func:`ganzoo.data.download.fetch`), loads it strictly into the network its catalogue entry
describes, and only then keeps it and records its SHA-256 (the publishers give none): an HTML
page, a cut-off or a foreign file is deleted and never becomes the value later downloads are
checked against. The weights are then written as a model folder (:mod:`ganzoo.sharing`) with the
recipe that reproduces them and their provenance, under ``$GANZOO_HOME/pretrained/NAME``.

The catalogue is data: ``ganzoo/pretrained.toml``, plus the TOML files named in
``$GANZOO_PRETRAINED_CATALOGUE`` (a plugin or a lab ships its own list the same way).
Importing this module is cheap (no torch): ``ganzoo pretrained list`` stays fast.
"""

from __future__ import annotations

import difflib
import os
import tarfile
import urllib.parse
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ganzoo.errors import GanzooError

HOME_ENV = "GANZOO_HOME"
MIRROR_ENV = "GANZOO_PRETRAINED_MIRROR"
"""Base URL of a copy of the files, laid out as on the publisher's server (``MIRROR/<URL path>``)."""
CATALOGUE_ENV = "GANZOO_PRETRAINED_CATALOGUE"
"""Further catalogue files (TOML, same format), separated by the path separator."""
BUILTIN = Path(__file__).with_name("pretrained.toml")


def ganzoo_home() -> Path:
    """ganzoo's cache folder: ``$GANZOO_HOME``, else ``$XDG_CACHE_HOME/ganzoo``, else ``~/.cache/ganzoo``."""
    home = os.environ.get(HOME_ENV)
    if home:
        return Path(home).expanduser()
    return Path(os.environ.get("XDG_CACHE_HOME") or Path("~/.cache").expanduser()) / "ganzoo"


@dataclass(frozen=True)
class PretrainedModel:
    """One published model: where its file is, what it is, and the recipe that reproduces it."""

    name: str
    family: str
    method: str
    weights: str
    url: str
    member: str | None
    licence: str
    source: str
    dataset: str
    summary: str
    recipe: dict[str, Any] = field(hash=False, compare=False)
    reference_test: str = ""
    note: str = ""
    sha256: str | None = None
    data_source: str = ""

    @property
    def data_command(self) -> str:
        """The command that downloads the training data, when ``ganzoo data`` knows the data set."""
        from ganzoo.data.catalog import entries

        key = f"{self.data_source}/{self.dataset}"
        known = {e.key: e for e in entries()}
        if key in known and known[key].downloadable:
            return f"ganzoo data download {key} --root data"
        return ""

    @property
    def generator(self) -> dict[str, Any]:
        """The generator's table of the recipe (type, ngf, norm, use_dropout...)."""
        return dict(self.recipe.get("generator", {}))

    @property
    def architecture(self) -> str:
        g = self.generator
        parts = [str(g.get("type", "?"))] + [f"{k} {g[k]}" for k in ("ngf", "norm") if k in g]
        return ", ".join(parts + (["dropout"] if g.get("use_dropout") else []))

    def download_url(self, mirror: str | None = None) -> str:
        """The URL on ``mirror`` (else ``$GANZOO_PRETRAINED_MIRROR``, else the publisher's)."""
        mirror = mirror if mirror is not None else os.environ.get(MIRROR_ENV)
        if not mirror:
            return self.url
        return mirror.rstrip("/") + urllib.parse.urlsplit(self.url).path

    @property
    def filename(self) -> str:
        """The downloaded file's name in the cache (archives shared by a family, once)."""
        base = Path(urllib.parse.urlsplit(self.url).path).name
        return f"{self.family}-{base}" if self.member else f"{self.family}-{self.name}{Path(base).suffix or '.pth'}"

    def to_json(self) -> dict[str, Any]:
        home = ganzoo_home() / "pretrained"
        return {"name": self.name, "family": self.family, "method": self.method, "summary": self.summary,
                "url": self.url, **({"member": self.member} if self.member else {}), "licence": self.licence,
                "source": self.source, "dataset": self.dataset, "generator": self.generator,
                "architecture": self.architecture, "directions": ["a2b"], "data_command": self.data_command,
                "reference_test": self.reference_test,
                "note": self.note, "path": str(home / self.name), "present": (home / self.name).is_dir()}


def _fill(value: Any, fields: Mapping[str, str]) -> Any:
    if isinstance(value, str):
        return value.format(**fields) if "{" in value else value
    if isinstance(value, dict):
        return {k: _fill(v, fields) for k, v in value.items()}
    if isinstance(value, list):
        return [_fill(v, fields) for v in value]
    return value


def parse_catalogue(raw: Mapping[str, Any], origin: str = "catalogue") -> list[PretrainedModel]:
    """The entries of one parsed catalogue file (see ganzoo/pretrained.toml for the format)."""
    families = raw.get("families", {})
    out = []
    for item in raw.get("models", []):
        name = item.get("name")
        family = families.get(item.get("family"))
        if not name or family is None:
            raise GanzooError(f"{origin}: model {name or '?'}: unknown family '{item.get('family')}' "
                              f"(families: {', '.join(families) or 'none'})")
        merged = {**family, **item}
        method = str(merged.get("method", ""))
        reverse = bool(merged.get("reverse", False))
        fields = {"name": name, "file": str(merged.get("file", name)), "dataset": str(merged.get("dataset", "")),
                  "method": method, "a": "B" if reverse else "A", "b": "A" if reverse else "B",
                  "direction": "BtoA" if reverse else "AtoB"}
        recipe = _fill(merged.get("recipe", {}), fields)
        recipe.setdefault("run", {})["name"] = name
        out.append(PretrainedModel(
            name=name, family=str(item["family"]), method=method, weights=str(merged.get("weights", "")),
            url=_fill(str(merged.get("url", "")), fields), member=_fill(merged.get("member"), fields),
            licence=str(merged.get("licence", "")), source=str(merged.get("source", "")),
            dataset=fields["dataset"], summary=str(merged.get("summary", "")), recipe=recipe,
            reference_test=str(merged.get("reference_test", "")), note=str(merged.get("note", "")),
            sha256=merged.get("sha256"), data_source=str(merged.get("data_source", ""))))
    return out


def catalogue() -> dict[str, PretrainedModel]:
    """Every known model by name: the built-in catalogue, then ``$GANZOO_PRETRAINED_CATALOGUE``'s
    files (a later entry of the same name replaces an earlier one)."""
    paths = [BUILTIN] + [Path(p) for p in os.environ.get(CATALOGUE_ENV, "").split(os.pathsep) if p]
    models: dict[str, PretrainedModel] = {}
    for path in paths:
        for entry in parse_catalogue(_read_toml(path), str(path)):
            models[entry.name] = entry
    return models


def _read_toml(path: Path) -> dict[str, Any]:
    """A catalogue file (tomllib directly: ganzoo.recipe would import torch)."""
    try:
        import tomllib
    except ImportError:  # Python 3.10
        import tomli as tomllib
    try:
        return tomllib.loads(path.read_text(encoding="utf-8"))
    except OSError as exc:
        raise GanzooError(f"{path}: catalogue file not readable ({exc.strerror}); check ${CATALOGUE_ENV}") from None
    except tomllib.TOMLDecodeError as exc:
        raise GanzooError(f"{path}: not valid TOML ({exc})") from None


def lookup(name: str) -> PretrainedModel:
    models = catalogue()
    if name not in models:
        close = difflib.get_close_matches(name, list(models), n=3)
        hint = f" (did you mean {', '.join(close)}?)" if close else ""
        raise GanzooError(f"no published model '{name}'{hint}; see: ganzoo pretrained list")
    return models[name]


def validate(entry: PretrainedModel, registry: Any = None) -> list[str]:
    """What is wrong with an entry: its recipe must resolve with the registry (method and
    generator known, options valid), its URL be http(s), its licence stated."""
    from ganzoo.recipe import recipe_from_dict

    problems = []
    parts = urllib.parse.urlsplit(entry.url)
    if parts.scheme not in ("http", "https") or not parts.netloc or not parts.path.strip("/"):
        problems.append(f"URL {entry.url!r} is not a well-formed http(s) URL")
    if not entry.licence.strip():
        problems.append("no licence stated")
    try:
        resolved = recipe_from_dict(entry.recipe, registry=registry, check_data=False)
    except GanzooError as exc:
        return [*problems, f"recipe does not resolve: {exc}"]
    if resolved.method.spec.name != entry.method:
        problems.append(f"method {entry.method} but the recipe's is {resolved.method.spec.name}")
    import torch

    from ganzoo.interchange import _SkipInPlaceOnMeta

    try:
        with torch.device("meta"), _SkipInPlaceOnMeta():  # the networks' shapes, no memory, no init
            names = list(resolved.build_method().generators())
    except Exception as exc:  # noqa: BLE001 - a config the method refuses (a layer its generator lacks)
        return [*problems, f"the method does not build: {type(exc).__name__}: {str(exc).splitlines()[0]}"]
    if names[:1] != [entry.weights]:
        problems.append(f"weights go into {entry.weights!r}, but the method's a2b generator is "
                        f"{names[0] if names else 'none'}")
    return problems


# --------------------------------------------------------------------------- fetching and converting


@dataclass
class PretrainedResult:
    folder: Path
    sha256: str
    skipped: bool = False
    downloaded: bool = False
    resumed_from: int = 0


def model_dir(entry: PretrainedModel) -> Path:
    return ganzoo_home() / "pretrained" / entry.name


def download_pretrained(entry: PretrainedModel, *, mirror: str | None = None, force: bool = False,
                        progress: bool = True, console: Any = None) -> PretrainedResult:
    """Fetch, verify and convert ``entry`` into its model folder (skipped when it is there)."""
    from ganzoo.data.download import (
        DownloadError,
        discard_partial,
        fetch,
        read_recorded_checksum,
        record_checksum,
        sha256_file,
    )
    from ganzoo.sharing import MARKER

    folder = model_dir(entry)
    if (folder / MARKER).is_file() and not force:
        return PretrainedResult(folder, read_recorded_checksum(download_path(entry)) or "", skipped=True)
    path = download_path(entry)
    expected = entry.sha256 or read_recorded_checksum(path)
    url = entry.download_url(mirror)
    if path.is_file() and not force:  # downloaded before, or put there by hand (offline)
        digest = sha256_file(path)
        if expected and digest != expected:
            raise GanzooError(f"{path} has SHA-256 {digest[:16]}..., not the {expected[:16]}... recorded for it: "
                              "a corrupt or other file; download it again with --force")
        try:
            convert(entry, path)
        except Exception as exc:  # noqa: BLE001 - the file is kept: it may be the user's own copy
            raise GanzooError(f"{path} does not load as the weights of {entry.name}: {_detail(exc)}\nreplace it "
                              f"with the file from {url}, or download it again with --force") from None
        record_checksum(path, digest)
        return PretrainedResult(folder, digest)
    temp = path.with_name(f".{path.name}.download")
    if force:
        discard_partial(temp)
    try:
        result = fetch(url, temp, sha256=expected, progress=progress, console=console,
                       hint=f"point ${MIRROR_ENV} (or --mirror) at a copy of the files")
    except DownloadError as exc:
        raise GanzooError(f"{exc}\nTo install it by hand: download {url} and put it at {path}, then run the "
                          f"same command again (it is checked by loading it as weights).") from None
    try:
        convert(entry, temp, url=url)
    except Exception as exc:  # noqa: BLE001 - whatever failed, the file is not trusted
        temp.unlink(missing_ok=True)
        raise GanzooError(f"{_detail(exc)}\nthe file from {url} was deleted and nothing was cached: run again to retry"
                          ) from None
    os.replace(temp, path)
    record_checksum(path, result.sha256)
    return PretrainedResult(folder, result.sha256, downloaded=True, resumed_from=result.resumed_from)


def _detail(exc: Exception) -> str:
    return str(exc) if isinstance(exc, GanzooError) else f"{type(exc).__name__}: {exc}"


def download_path(entry: PretrainedModel) -> Path:
    """Where the publisher's file is kept (its checksum next to it, ``FILE.sha256``)."""
    return ganzoo_home() / "downloads" / entry.filename


def convert(entry: PretrainedModel, path: Path, *, url: str | None = None) -> Path:
    """Load ``path`` (the publisher's file) strictly into the entry's generator and write the
    model folder. Refuses what is not the weights: an HTML page, another network, a pickle."""
    import tempfile

    from ganzoo.interchange import load_strict, read_checkpoint, select_state_dict, state_dicts_in
    from ganzoo.metrics.weights import check_torch_file
    from ganzoo.recipe import recipe_from_dict
    from ganzoo.sharing import write_model_folder

    with tempfile.TemporaryDirectory(prefix="ganzoo-pretrained-") as tmp:
        weights = path
        if entry.member:
            weights = _extract_member(path, entry.member, Path(tmp), url or entry.url)
        check_torch_file(weights, url or str(path))
        resolved = recipe_from_dict(entry.recipe, check_data=False)
        method = resolved.build_method()
        gens = method.generators()
        if entry.weights != next(iter(gens), None):  # the model translates input -> output as a2b
            raise GanzooError(f"{entry.name}: weights go into {entry.weights}, but the a2b generator of "
                              f"{entry.method} is {next(iter(gens), None)}")
        state = select_state_dict(state_dicts_in(read_checkpoint(weights)), None, str(weights))
        load_strict(gens[entry.weights], state, source=url or str(path), what=f"{entry.name}'s generator",
                    kind="generator")
    info = {"source": {"catalogue": entry.name, "url": entry.url, "member": entry.member, "publisher": entry.source,
                       "licence": entry.licence}, "summary": entry.summary}
    return write_model_folder(model_dir(entry), method=method, recipe_toml=resolved.to_toml(),
                              generators=[entry.weights], directions=["a2b"], info=info,
                              card=_card(entry, resolved.to_toml()), overwrite=True)


def _extract_member(archive: Path, member: str, into: Path, url: str) -> Path:
    """The one file of a tar archive whose name ends with ``member``, read (never extracted by
    its own path), as ``into/<its base name>``."""
    try:
        with tarfile.open(archive) as tar:
            found = [m for m in tar.getmembers() if m.isfile() and (m.name == member or m.name.endswith("/" + member))]
            if not found:
                raise GanzooError(f"{url}: the archive has no {member}")
            source = tar.extractfile(found[0])
            target = into / Path(member).name
            with source, open(target, "wb") as f:  # type: ignore[union-attr]
                while block := source.read(1 << 20):  # type: ignore[union-attr]
                    f.write(block)
    except (tarfile.TarError, EOFError, OSError) as exc:
        raise GanzooError(f"{url}: not a readable tar archive ({type(exc).__name__}: {exc})") from None
    return target


def _card(entry: PretrainedModel, recipe_toml: str) -> str:
    return f"""# {entry.name}

{entry.summary}. Published by {entry.source}; converted to a ganzoo model folder.

- method: {entry.method}; generator: {entry.architecture}; translates a2b (input -> output)
- file: {entry.url}{f' (member {entry.member})' if entry.member else ''}
- licence: {entry.licence}
- training data: the {entry.dataset} data set{f'; note: {entry.note}' if entry.note else ''}
- the publisher's test command: `{entry.reference_test}`

## Recipe that reproduces it

Reference settings: {f"`{entry.data_command}`, then " if entry.data_command else ""}`ganzoo run recipe.toml`
(the data folders are relative to where it runs).

```toml
{recipe_toml.strip()}
```
"""


def resolve_source(source: str | Path, *, progress: bool = True, console: Any = None) -> Path:
    """A local path for what ``ganzoo translate`` and :func:`ganzoo.load` were given: an existing
    path as is, ``hf://user/repo`` through the hub's cache, a catalogue name through its model
    folder (downloaded on first use). A path that exists wins over a catalogue name; a bare name
    that is neither is an error that suggests close names."""
    from ganzoo.sharing import download_from_hub, is_hub_source

    if is_hub_source(source):
        return download_from_hub(source)
    path = Path(source)
    if path.exists() or os.sep in str(source) or "/" in str(source):
        return path
    models = catalogue()
    if str(source) in models:
        return download_pretrained(models[str(source)], progress=progress, console=console).folder
    close = difflib.get_close_matches(str(source), list(models), n=3)
    raise GanzooError(f"{source}: no such run directory or model folder, and no published model of that name"
                      + (f" (did you mean {', '.join(close)}?)" if close else "") + "; see: ganzoo pretrained list")
