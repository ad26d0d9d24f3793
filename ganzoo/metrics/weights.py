"""Pretrained weight files the metrics need: where they are looked for, and fetching them on request.

Metrics need published weights (FID's Inception, LPIPS' backbone). A run or an evaluation never
downloads anything by itself (it must not depend on a network), so the files come from an
explicit path, an environment variable or torch's hub cache, and a missing file is one message
that says what to fetch and how. ``ganzoo weights fetch NAME`` is that explicit step: it
downloads a file of :data:`CATALOG` into the hub cache (where pytorch-fid and torchvision put the
same files, so either tool's download is reused), through the project's one resumable
downloader (:func:`ganzoo.data.download.fetch`), and moves it into place only once its checksum
and its content (a PyTorch file, not an HTML page) are right, so a bad file is never cached.

Importing this module is cheap (no torch): ``ganzoo weights list`` stays fast.
"""

from __future__ import annotations

import os
import sys
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from ganzoo.errors import GanzooError

MIRROR_ENV = "GANZOO_WEIGHTS_MIRROR"
"""Base URL of a copy of the files (``MIRROR/FILENAME``): an offline cache, or a local test server."""


def hub_checkpoints_dir() -> Path:
    """torch hub's checkpoint folder (``torch.hub.get_dir()/checkpoints``), without importing
    torch when it is not loaded yet: ``$TORCH_HOME/hub``, else ``$XDG_CACHE_HOME/torch/hub``,
    else ``~/.cache/torch/hub``, as torch.hub computes it."""
    if "torch" in sys.modules:
        import torch

        return Path(torch.hub.get_dir()) / "checkpoints"
    torch_home = os.environ.get("TORCH_HOME") or os.path.join(
        os.environ.get("XDG_CACHE_HOME") or os.path.join("~", ".cache"), "torch")
    return Path(os.path.expanduser(torch_home)) / "hub" / "checkpoints"


@dataclass(frozen=True)
class WeightsEntry:
    """One published file. ``sha256``: the full digest when known, else the prefix the
    publisher put in the file name (torch hub's convention: the first 8+ hex digits of the
    SHA-256, which torch.hub itself checks)."""

    name: str
    filename: str
    url: str
    sha256: str
    size: str
    used_by: str

    def download_url(self, mirror: str | None = None) -> str:
        mirror = mirror if mirror is not None else os.environ.get(MIRROR_ENV)
        return f"{mirror.rstrip('/')}/{self.filename}" if mirror else self.url

    @property
    def path(self) -> Path:
        return hub_checkpoints_dir() / self.filename

    def matches(self, digest: str) -> bool:
        return digest.lower().startswith(self.sha256.lower())


def _torchvision(name: str, filename: str, size: str, used_by: str) -> WeightsEntry:
    return WeightsEntry(name, filename, f"https://download.pytorch.org/models/{filename}",
                        filename.rsplit("-", 1)[1].split(".")[0], size, used_by)


CATALOG: dict[str, WeightsEntry] = {e.name: e for e in (
    WeightsEntry("inception", "pt_inception-2015-12-05-6726825d.pth",
                 "https://github.com/mseitzer/pytorch-fid/releases/download/fid_weights/"
                 "pt_inception-2015-12-05-6726825d.pth", "6726825d", "92 MB",
                 "fid, kid"),
    _torchvision("lpips-alex", "alexnet-owt-7be5be79.pth", "233 MB", "lpips (alex, default)"),
    _torchvision("lpips-vgg", "vgg16-397923af.pth", "528 MB", "lpips (vgg)"),
    _torchvision("lpips-squeeze", "squeezenet1_1-b8a52dc0.pth", "5 MB", "lpips (squeeze)"),
    _torchvision("vgg19", "vgg19-dcbb9e9d.pth", "548 MB", "perceptual loss (super-resolution: esrgan, realesrgan)"),
)}
"""The files ``ganzoo weights`` knows. The LPIPS entries are the torchvision backbones; the
linear calibration layers LPIPS adds on top ship inside the ``lpips`` package."""


def lookup(name: str) -> list[WeightsEntry]:
    """The entries ``NAME`` means (``all``: every one)."""
    if name == "all":
        return list(CATALOG.values())
    if name not in CATALOG:
        raise GanzooError(f"unknown weights '{name}'; known: {', '.join(CATALOG)} or all (see: ganzoo weights list)")
    return [CATALOG[name]]


def fetch_command(filename: str) -> str:
    """The command that downloads ``filename`` into the cache, or '' when no entry has it."""
    entry = next((e for e in CATALOG.values() if e.filename == filename), None)
    return f"ganzoo weights fetch {entry.name}" if entry else ""


class MissingWeightsError(GanzooError):
    """Weights looked for in the usual places are not there (not a path the user named): the
    metric cannot run, and the evaluation goes on without it."""


def find_weights(
    candidates: Sequence[Path], *, explicit: bool, label: str, needs: str, url: str, option: str, env: str
) -> Path:
    """The first existing candidate. ``explicit``: the first candidate was named by the user, so
    its absence is an error even if a later candidate exists."""
    if explicit and not candidates[0].is_file():
        raise GanzooError(f"{label}: {candidates[0]} does not exist (download it from {url})")
    for candidate in candidates:
        if candidate.is_file():
            return candidate
    looked = ", ".join(str(c) for c in candidates)
    command = fetch_command(Path(url).name)
    if command:
        raise MissingWeightsError(f"{needs}, not found in {looked}; fetch them with: {command} "
                                  f"(or download {url} and pass it with {option} or ${env})")
    raise MissingWeightsError(f"{needs}, not found in {looked}; download {url} and pass it with {option} or ${env}, "
                              f"or put it in {hub_checkpoints_dir()}")


def resolve_weights(name: str, path: str | Path | None = None, *, option: str = "weights", env: str = "") -> Path:
    """The local file of the catalogue's weights ``name`` (e.g. ``vgg19``): ``path`` when given
    (an error if absent), else ``$env``, else torch hub's checkpoints folder. Never downloads: a
    missing file raises :class:`MissingWeightsError` naming the ``ganzoo weights fetch`` command.
    Public (``ganzoo.resolve_weights``) so that a plugin's loss finds pretrained networks the
    way the metrics do."""
    entry = CATALOG[name]
    candidates = [Path(path).expanduser()] if path else []
    if env and os.environ.get(env):
        candidates.append(Path(os.environ[env]).expanduser())
    candidates.append(hub_checkpoints_dir() / entry.filename)
    return find_weights(candidates, explicit=bool(path), label=f"{name} weights",
                        needs=f"{entry.used_by} needs the weights {entry.filename}", url=entry.url,
                        option=option, env=env or "TORCH_HOME")


# --------------------------------------------------------------------------- fetching

_TORCH_MAGIC = (b"PK\x03\x04", b"\x80")
"""How a file written by ``torch.save`` starts: a zip archive (PyTorch >= 1.6) or a pickle."""


@dataclass
class WeightsFetch:
    entry: WeightsEntry
    path: Path
    sha256: str
    skipped: bool = False
    resumed_from: int = 0


def check_torch_file(path: Path, url: str) -> None:
    """Refuse what is plainly not a PyTorch weights file (an HTML error or login page, an empty body)."""
    with open(path, "rb") as f:
        head = f.read(512)
    if not head.startswith(_TORCH_MAGIC):
        text = head.lstrip().lower()
        what = "an HTML page" if text.startswith((b"<!doctype", b"<html", b"<")) else "not a PyTorch file"
        raise GanzooError(f"{url} sent {what} ({len(head)} bytes seen), not the weights; nothing was cached")


def fetch_weights(entry: WeightsEntry, *, mirror: str | None = None, force: bool = False,
                  progress: bool = True, console: Any = None, timeout: float | None = None) -> WeightsFetch:
    """Download ``entry`` into the hub cache, unless a file with the right checksum is there.

    The body goes to a hidden ``.FILENAME.download`` beside the target (continued from its
    ``.part`` after an interruption), is checked (checksum, PyTorch file) and only then renamed
    to ``FILENAME``: a file in the cache under that name is always a complete, verified one.
    """
    from ganzoo.data.download import TIMEOUT, discard_partial, fetch, sha256_file

    target = entry.path
    if target.is_file() and not force:
        digest = sha256_file(target)
        if entry.matches(digest):
            return WeightsFetch(entry, target, digest, skipped=True)
        raise GanzooError(f"{target} is already there but its SHA-256 {digest[:12]}... does not start with "
                              f"{entry.sha256} (a corrupt or other file); fetch again with --force to replace it")
    url = entry.download_url(mirror)
    temp = target.with_name(f".{entry.filename}.download")
    if force:
        discard_partial(temp)
    result = fetch(url, temp, progress=progress, console=console, timeout=timeout or TIMEOUT,
                   hint=f"point ${MIRROR_ENV} (or --mirror) at a copy of the files")
    try:
        if not entry.matches(result.sha256):
            check_torch_file(temp, url)  # an HTML page is the likelier story: say so
            raise GanzooError(f"checksum mismatch for {url}: SHA-256 {result.sha256[:16]}... does not start with "
                              f"{entry.sha256}; the download was deleted and nothing was cached: run again to retry")
        check_torch_file(temp, url)
    except GanzooError:
        temp.unlink(missing_ok=True)
        raise
    os.replace(temp, target)
    return WeightsFetch(entry, target, result.sha256, resumed_from=result.resumed_from)
