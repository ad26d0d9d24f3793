"""Download and unpack the standard data sets: resumable, checksummed, and safe to extract.

Archives of a few GB come over plain HTTP from one university server, so a download must
survive a dropped connection (it continues from a ``.part`` file with an HTTP Range request),
and a corrupt or swapped file must be caught: the publishers give no checksums, so the SHA-256
of the first download is recorded in ``ARCHIVE.sha256`` and every later download of the same
archive is checked against it (trust on first use), unless a checksum is given explicitly.
It is recorded only once the archive has been read through and opens: an HTML error page or a
body cut off by a server that sent no length is deleted, never trusted.

An archive is only trusted to hold files below its target folder: every member is checked
before anything is written, and an archive with ``../`` names, absolute paths, links pointing
outside (also by a chain of links that each look harmless, followed as the file system will),
device files, hard links to no earlier member or a name that is both a file and a folder is
refused as a whole (tar extraction also uses Python's ``"data"``
filter where available, as a second line of defence).
"""

from __future__ import annotations

import contextlib
import hashlib
import http.client
import json
import posixpath
import re
import stat
import tarfile
import time
import urllib.error
import urllib.parse
import urllib.request
import zipfile
import zlib
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from ganzoo.data.catalog import CatalogEntry
from ganzoo.errors import DataError

CHUNK = 1 << 16
TIMEOUT = 30.0
USER_AGENT = "ganzoo-data/1"
_LOOPBACK = {"127.0.0.1", "localhost", "::1"}


class DownloadError(DataError):
    """A download failed (network, HTTP status, interruption, checksum); the message says what to do."""


class UnsafeArchiveError(DataError):
    """An archive member would be written outside the target folder; nothing was extracted."""


class CorruptArchiveError(DataError):
    """The file is not a complete zip or tar archive (an HTML page, a cut-off download)."""

    def __init__(self, path: Path, reason: str):
        self.path, self.reason = path, reason
        super().__init__(f"{path}: {reason}; delete it and download again")


@dataclass
class FetchResult:
    path: Path
    sha256: str
    size: int
    resumed_from: int = 0


# ---------------------------------------------------------------- checksums


def sha256_file(path: str | Path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()


def checksum_path(archive: Path) -> Path:
    """Where the checksum of ``archive`` is recorded: ``ARCHIVE.sha256`` next to it."""
    return archive.with_name(archive.name + ".sha256")


def read_recorded_checksum(archive: Path) -> str | None:
    """The SHA-256 recorded next to ``archive`` (``sha256sum`` format), or None."""
    try:
        text = checksum_path(archive).read_text(encoding="utf-8").strip()
    except OSError:
        return None
    digest = text.split()[0].lower() if text else ""
    return digest if re.fullmatch(r"[0-9a-f]{64}", digest) else None


def record_checksum(archive: Path, digest: str) -> Path:
    path = checksum_path(archive)
    path.write_text(f"{digest}  {archive.name}\n", encoding="utf-8")
    return path


def normalize_sha256(value: str | None) -> str | None:
    if value is None:
        return None
    digest = value.strip().lower().removeprefix("sha256:")
    if not re.fullmatch(r"[0-9a-f]{64}", digest):
        raise DataError(f"--sha256 must be 64 hexadecimal digits, got {value!r}")
    return digest


# ---------------------------------------------------------------- fetching


def _opener(url: str) -> urllib.request.OpenerDirector:
    # A proxy from the environment must not capture a loopback mirror (tests, local caches).
    host = urllib.parse.urlsplit(url).hostname or ""
    if host in _LOOPBACK:
        return urllib.request.build_opener(urllib.request.ProxyHandler({}))
    return urllib.request.build_opener()


def _content_range(header: str | None) -> tuple[int | None, int | None]:
    """(first byte, total) of ``Content-Range: bytes A-B/T`` or ``bytes */T``."""
    m = re.fullmatch(r"\s*bytes\s+(?:(\d+)-\d+|\*)/(\d+|\*)\s*", header or "")
    if not m:
        return None, None
    start = int(m.group(1)) if m.group(1) is not None else None
    total = int(m.group(2)) if m.group(2) != "*" else None
    return start, total


def _meta_path(part: Path) -> Path:
    return part.with_name(part.name + ".json")


def partial_path(dest: Path) -> Path:
    """Where :func:`fetch` keeps the partial download of ``dest``: ``DEST.part``."""
    return dest.with_name(dest.name + ".part")


def discard_partial(dest: Path) -> None:
    """Delete a partial download of ``dest`` and its resume information, so the next
    :func:`fetch` starts from the first byte."""
    part = partial_path(dest)
    part.unlink(missing_ok=True)
    _meta_path(part).unlink(missing_ok=True)


def _read_meta(part: Path) -> dict[str, Any]:
    try:
        return json.loads(_meta_path(part).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return {}


def _human(n: float) -> str:
    for unit in ("B", "KB", "MB", "GB"):
        if n < 1024 or unit == "GB":
            return f"{n:.0f} {unit}" if unit == "B" else f"{n:.1f} {unit}"
        n /= 1024
    return f"{n:.1f} GB"


@contextlib.contextmanager
def _progress_bar(enabled: bool, description: str, total: int | None, completed: int, console: Any = None):
    from rich.progress import (
        BarColumn,
        DownloadColumn,
        Progress,
        TextColumn,
        TimeRemainingColumn,
        TransferSpeedColumn,
    )

    progress = Progress(
        TextColumn("[bold]{task.description}"), BarColumn(), DownloadColumn(), TransferSpeedColumn(),
        TimeRemainingColumn(), console=console, disable=not enabled, transient=False,
    )
    with progress:
        task = progress.add_task(description, total=total, completed=completed)
        yield lambda n: progress.advance(task, n)


def fetch(
    url: str,
    dest: str | Path,
    *,
    sha256: str | None = None,
    progress: bool = True,
    console: Any = None,
    timeout: float = TIMEOUT,
    hint: str = "point --mirror (or GANZOO_DATA_MIRROR) at a copy of the files",
) -> FetchResult:
    """Download ``url`` to ``dest`` through ``dest.part``, resuming a previous partial download.

    The partial file is kept when the transfer breaks (run again to continue) and deleted
    when the finished file's SHA-256 differs from ``sha256``. Returns the file's SHA-256.
    ``hint``: what to do instead when the server cannot be reached.
    """
    dest = Path(dest)
    dest.parent.mkdir(parents=True, exist_ok=True)
    part = partial_path(dest)
    meta = _read_meta(part)
    if part.exists() and meta.get("url") not in (None, url):
        part.unlink()  # a partial file of another URL (mirror changed): useless
    offset = part.stat().st_size if part.exists() else 0
    resumed_from = offset

    for _attempt in range(3):
        request = urllib.request.Request(url, headers={"User-Agent": USER_AGENT, "Accept-Encoding": "identity"})
        if offset:
            request.add_header("Range", f"bytes={offset}-")
            validator = meta.get("etag") or meta.get("last_modified")
            if validator:  # the server sends the whole (new) file if it changed since
                request.add_header("If-Range", validator)
        try:
            response = _opener(url).open(request, timeout=timeout)
        except urllib.error.HTTPError as exc:
            if exc.code == 416 and offset:
                _, total = _content_range(exc.headers.get("Content-Range"))
                exc.close()
                if total == offset:  # the partial file is already complete
                    response = None
                    break
                part.unlink(missing_ok=True)
                offset = resumed_from = 0
                continue
            exc.close()
            hint = " (is the name right, and does the mirror have it?)" if exc.code == 404 else ""
            raise DownloadError(f"{url}: HTTP {exc.code} {exc.reason}{hint}") from None
        except (urllib.error.URLError, OSError) as exc:
            reason = getattr(exc, "reason", exc)
            raise DownloadError(
                f"could not reach {url}: {reason}. Check the network, or {hint}"
            ) from None

        with response:
            status = response.status
            if status == 206:
                start, total = _content_range(response.headers.get("Content-Range"))
                if start != offset:  # not the range asked for: start over without one
                    part.unlink(missing_ok=True)
                    offset = resumed_from = 0
                    continue
            elif status == 200:
                if offset:  # the server ignored the range, or the file changed (If-Range)
                    part.unlink(missing_ok=True)
                    offset = resumed_from = 0
                length = response.headers.get("Content-Length")
                total = int(length) if length and length.isdigit() else None
            else:
                raise DownloadError(f"{url}: unexpected HTTP status {status}")
            _meta_path(part).write_text(json.dumps({
                "url": url, "etag": response.headers.get("ETag"),
                "last_modified": response.headers.get("Last-Modified"), "total": total,
            }), encoding="utf-8")
            _stream(response, part, offset, total, url, progress, console)
        break
    else:
        raise DownloadError(f"{url}: the server keeps answering range requests wrongly; delete {part} and retry")

    digest = sha256_file(part)
    size = part.stat().st_size
    if sha256 is not None and digest != sha256:
        part.unlink(missing_ok=True)
        _meta_path(part).unlink(missing_ok=True)
        raise DownloadError(
            f"checksum mismatch for {url}: expected SHA-256 {sha256}, got {digest}; the download was "
            "deleted. The file is corrupt or was changed on the server: run again to retry, or, if the "
            "new file is expected, pass --sha256 with the new value (or delete the recorded .sha256 file)"
        )
    part.replace(dest)
    _meta_path(part).unlink(missing_ok=True)
    return FetchResult(dest, digest, size, resumed_from)


def _stream(
    response: http.client.HTTPResponse, part: Path, offset: int, total: int | None, url: str,
    progress: bool, console: Any,
) -> None:
    """Append the body to ``part``; a short body raises with the resume advice. ``total`` is the
    whole file's size (Content-Range's total on a 206, Content-Length on a 200), if known."""
    full = total
    received = 0
    expected = None if full is None else full - offset
    name = Path(urllib.parse.urlsplit(url).path).name
    mode = "ab" if offset else "wb"
    error: BaseException | None = None
    with open(part, mode) as out, _progress_bar(progress, name, full, offset, console) as advance:
        try:
            while True:
                block = response.read(CHUNK)
                if not block:
                    break
                out.write(block)
                received += len(block)
                advance(len(block))
        except (http.client.IncompleteRead, OSError) as exc:  # OSError covers resets and timeouts
            error = exc
    if error is not None or (expected is not None and received < expected):
        have = offset + received
        of = f" of {_human(full)}" if full else ""
        reason = f" ({type(error).__name__})" if error is not None else ""
        raise DownloadError(
            f"download of {url} was interrupted after {_human(have)}{of}{reason}; the partial file is "
            f"kept in {part}: run the same command again to resume"
        )


# ---------------------------------------------------------------- extraction


def _is_junk(name: str) -> bool:
    """macOS metadata that archives made on a Mac carry: ``__MACOSX/`` and AppleDouble ``._x.jpg``
    files, which would otherwise show up as unreadable "images"."""
    parts = name.replace("\\", "/").split("/")
    return "__MACOSX" in parts or parts[-1].startswith("._") or parts[-1] == ".DS_Store"


def _unix(name: str) -> str:
    return name.replace("\\", "/")  # a Windows separator is a separator wherever the archive is opened


def _is_absolute(unix: str) -> bool:
    return unix.startswith("/") or re.match(r"^[A-Za-z]:", unix) is not None


def _check_name(name: str, target: Path) -> str:
    """``name`` made relative and checked to stay inside ``target``; raises UnsafeArchiveError."""
    if "\x00" in name:
        raise UnsafeArchiveError(f"member {name!r} has a NUL byte in its name")
    unix = _unix(name)
    if _is_absolute(unix):
        raise UnsafeArchiveError(f"member {name!r} has an absolute path")
    norm = posixpath.normpath(unix)
    if norm == ".." or norm.startswith("../") or "/../" in f"/{unix}/":
        raise UnsafeArchiveError(f"member {name!r} points outside the target folder ('..')")
    resolved = (target / norm).resolve()
    if not resolved.is_relative_to(target.resolve()):
        raise UnsafeArchiveError(f"member {name!r} would be written outside {target}")
    return norm


MAX_LINK_HOPS = 40
"""Links followed while resolving one path (Linux's own limit); more is taken for a loop."""


def _resolve(path: str, links: dict[str, str], target: Path, what: str, *, on_disk: bool = True) -> str:
    """``path`` (relative to ``target``) as the file system will resolve it once the archive's
    symlinks ``links`` (member name -> link text) are written: each link is followed where it
    occurs, so a chain of links that each look harmless cannot lead outside. Raises
    :class:`UnsafeArchiveError` naming ``what`` when a step leaves ``target``. Links already on
    disk are checked too, unless ``on_disk`` is false and no archive link was followed (a member
    name that :func:`_check_name` checked on disk already)."""
    todo = [p for p in path.split("/") if p not in ("", ".")]
    done: list[str] = []
    hops = 0
    while todo:
        part = todo.pop(0)
        if part == "..":
            if not done:
                raise UnsafeArchiveError(f"{what} points outside the target folder")
            done.pop()
            continue
        link = links.get("/".join([*done, part]))
        if link is None:
            done.append(part)
            continue
        hops += 1
        if hops > MAX_LINK_HOPS:
            raise UnsafeArchiveError(f"{what} goes through a loop of links (or more than {MAX_LINK_HOPS})")
        todo[:0] = [p for p in link.split("/") if p not in ("", ".")]  # relative to the link's folder
    resolved = "/".join(done)
    if (on_disk or hops) and not (target / resolved).resolve().is_relative_to(target.resolve()):
        raise UnsafeArchiveError(f"{what} would be written outside {target}")
    return resolved


def _check_members(entries: list[tuple[str, str, str]], target: Path, *, links_are_files: bool = False) -> None:
    """Check a whole member list, ``(name, kind, link)`` with kind ``file``, ``dir``, ``symlink``
    or ``hardlink``, before anything is written: names, links and chains of links stay inside
    ``target``, a hard link names an earlier member, and no name is both a file and a folder.
    ``links_are_files``: the extractor writes symlinks as small files (zipfile), so they are
    checked but not followed."""
    names = [_check_name(name, target) for name, _, _ in entries]
    for name, kind, link in entries:
        if kind in ("symlink", "hardlink") and _is_absolute(_unix(link)):
            raise UnsafeArchiveError(f"link {name!r} points to the absolute path {link!r}")
    links = {} if links_are_files else {
        norm: _unix(link) for (_, kind, link), norm in zip(entries, names, strict=True) if kind == "symlink"
    }
    seen: dict[str, str] = {}  # resolved path -> "file" or "dir"
    for (name, kind, link), norm in zip(entries, names, strict=True):
        parent = _resolve(posixpath.dirname(norm), links, target, f"member {name!r}", on_disk=False)
        path = posixpath.join(parent, posixpath.basename(norm))
        if kind == "symlink":  # the link itself is made at ``path``; what it points to must be inside
            _resolve(posixpath.join(parent, _unix(link)), links, target, f"link {name!r} -> {link!r}")
        else:  # a file is written through a link of the same name, as open() follows it
            path = _resolve(path, links, target, f"member {name!r}", on_disk=False)
        if kind == "hardlink" and seen.get(
                _resolve(posixpath.normpath(_unix(link)), links, target, f"link {name!r} -> {link!r}")) != "file":
            raise UnsafeArchiveError(f"hard link {name!r} -> {link!r} names no earlier member of the archive")
        folders = path.split("/")[:-1]
        for above in ("/".join(folders[:i]) for i in range(1, len(folders) + 1)):
            if seen.setdefault(above, "dir") != "dir":
                raise UnsafeArchiveError(f"{above!r} is both a file and a folder (of {name!r}) in the archive")
        if seen.setdefault(path, "dir" if kind == "dir" else "file") != ("dir" if kind == "dir" else "file"):
            raise UnsafeArchiveError(f"{path!r} is both a file and a folder in the archive")


def _tar_members(archive: tarfile.TarFile, target: Path) -> list[tarfile.TarInfo]:
    members = archive.getmembers()
    for m in members:
        if not (m.isfile() or m.isdir() or m.issym() or m.islnk()):
            raise UnsafeArchiveError(f"member {m.name!r} is a device, fifo or other special file")
    kinds = [("symlink" if m.issym() else "hardlink" if m.islnk() else "dir" if m.isdir() else "file") for m in members]
    _check_members([(m.name, kind, m.linkname) for m, kind in zip(members, kinds, strict=True)], target)
    return [m for m in members if not _is_junk(m.name)]


def _zip_members(archive: zipfile.ZipFile, target: Path) -> list[zipfile.ZipInfo]:
    # zipfile writes a link as a small file holding its target, so it cannot escape; one
    # pointing outside still means the archive was crafted, so it is refused all the same.
    members = archive.infolist()
    _check_members([
        (info.filename, "symlink", archive.read(info).decode("utf-8", "replace"))
        if stat.S_ISLNK(info.external_attr >> 16) else (info.filename, "dir" if info.is_dir() else "file", "")
        for info in members
    ], target, links_are_files=True)
    return [info for info in members if not _is_junk(info.filename)]


def archive_format(path: Path) -> str:
    """'zip' or 'tar', by content (not by name: a mirror may serve either under any name)."""
    if zipfile.is_zipfile(path):
        return "zip"
    if tarfile.is_tarfile(path):
        return "tar"
    raise CorruptArchiveError(path, "neither a zip nor a tar archive (a broken download, or an HTML error page?)")


def extract(
    archive_path: str | Path, target: str | Path, *, on_checked: Callable[[], object] | None = None
) -> list[str]:
    """Unpack a zip or tar(.gz) archive into ``target`` and return the top-level names it created.

    The whole member list is checked first; if any member would land outside ``target``
    (``../``, an absolute path, a link or a chain of links pointing outside, a device file) or
    could not be written (a hard link to no earlier member, a name that is both a file and a
    folder) :class:`UnsafeArchiveError` is raised and nothing is written. An archive that is cut
    off or not an archive at all raises :class:`CorruptArchiveError`. ``on_checked`` is called
    once the whole member list has been read and checked (the archive is complete and opens),
    before anything is written.
    """
    archive_path, target = Path(archive_path), Path(target)
    target.mkdir(parents=True, exist_ok=True)
    fmt = archive_format(archive_path)
    try:
        if fmt == "zip":
            with zipfile.ZipFile(archive_path) as zf:
                zmembers = _zip_members(zf, target)
                names = [m.filename for m in zmembers]
                if on_checked:
                    on_checked()
                zf.extractall(target, members=zmembers)
        else:
            with tarfile.open(archive_path, "r:*") as tf:
                tmembers = _tar_members(tf, target)
                names = [m.name for m in tmembers]
                if on_checked:
                    on_checked()
                if hasattr(tarfile, "data_filter"):
                    tf.extractall(target, members=tmembers, filter="data")
                else:  # pragma: no cover - Python without PEP 706; our own checks above still apply
                    tf.extractall(target, members=tmembers)
    except (tarfile.TarError, zipfile.BadZipFile, EOFError, zlib.error) as exc:
        if isinstance(exc, getattr(tarfile, "FilterError", ())):
            raise UnsafeArchiveError(f"{archive_path}: {exc}") from None
        raise CorruptArchiveError(archive_path, f"corrupt or cut off: {exc}") from None
    except OSError as exc:
        if exc.errno is None:  # gzip's BadGzipFile, bz2's "Invalid data stream": the archive is broken
            raise CorruptArchiveError(archive_path, f"corrupt or cut off: {exc}") from None
        # a full disk, no permission: the archive is fine, this machine is not
        raise DataError(f"could not unpack {archive_path} into {target}: {exc}; the archive is kept: "
                        "fix that and run the same command again") from None
    tops = {posixpath.normpath(n.replace("\\", "/")).split("/")[0] for n in names}
    return sorted(tops - {".", ""})


# ---------------------------------------------------------------- the data sets


def marker_path(folder: Path, entry: CatalogEntry) -> Path:
    """The file whose presence says ``entry`` was fully downloaded and unpacked into ``folder``."""
    return folder / f".ganzoo-download-{entry.source}.json"


@dataclass
class DownloadResult:
    folder: Path
    archive: Path
    sha256: str
    checksum_file: Path
    checksum_source: str  # "catalog", "--sha256", "recorded", "first download"
    skipped: bool = False
    resumed_from: int = 0


def download_dataset(
    entry: CatalogEntry,
    root: str | Path = "data",
    *,
    mirror: str | None = None,
    sha256: str | None = None,
    force: bool = False,
    keep_archive: bool = False,
    progress: bool = True,
    console: Any = None,
) -> DownloadResult:
    """Download ``entry`` into ``root``, verify it and unpack it to ``root/entry.folder``.

    The checksum checked is, in this order: ``sha256`` (``--sha256``), the catalog's, the one
    recorded by an earlier download (``ARCHIVE.sha256`` in ``root``); with none, the new one is
    recorded. An already unpacked data set is left alone unless ``force``.
    """
    root = Path(root)
    folder = root / entry.folder
    if not entry.downloadable:
        raise DataError(f"{entry.key} cannot be downloaded: {entry.note}")
    marker = marker_path(folder, entry)
    archive = root / entry.archive
    if marker.is_file() and not force:
        recorded = read_recorded_checksum(archive) or ""
        return DownloadResult(folder, archive, recorded, checksum_path(archive), "recorded", skipped=True)

    explicit = normalize_sha256(sha256)
    recorded = read_recorded_checksum(archive)
    if explicit:
        expected, source = explicit, "--sha256"
    elif entry.sha256:
        expected, source = entry.sha256, "catalog"
    elif recorded:
        expected, source = recorded, "recorded"
    else:
        expected, source = None, "first download"

    url = entry.url(mirror)
    if force:  # start clean: no resuming a partial file that may hold another response's bytes
        discard_partial(archive)
    if archive.is_file() and expected and sha256_file(archive) == expected:
        result = FetchResult(archive, expected, archive.stat().st_size)  # a kept archive: no download
    else:
        archive.unlink(missing_ok=True)
        try:
            result = fetch(url, archive, sha256=expected, progress=progress, console=console)
        except DownloadError as exc:
            if source == "recorded" and "checksum mismatch" in str(exc):
                raise DownloadError(
                    f"{exc}\nThe expected value was recorded by the first download in {checksum_path(archive)}."
                ) from None
            raise
    checksum_file = checksum_path(archive)

    # Unpack, then mark complete; a half-unpacked folder (interrupted) has no marker and is redone.
    # The checksum is recorded only once the archive is known to be complete and to open: an HTML
    # page or a cut-off body must never become the value later downloads are checked against.
    marker.unlink(missing_ok=True)
    try:
        created = extract(archive, root, on_checked=lambda: record_checksum(archive, result.sha256))
    except CorruptArchiveError as exc:
        archive.unlink(missing_ok=True)
        if source == "first download":
            checksum_file.unlink(missing_ok=True)
            raise DownloadError(
                f"the file downloaded from {url} is not a complete zip or tar archive ({exc.reason}); it was "
                "deleted and no checksum was recorded: run the same command again to download it again"
            ) from None
        origin = {"--sha256": "--sha256", "catalog": "the catalog"}.get(source, f"{checksum_file}")
        raise DownloadError(
            f"{archive} (from {url}) matches the expected SHA-256 (from {origin}) but is not a complete zip or "
            f"tar archive ({exc.reason}); it was deleted. Is that checksum right?"
        ) from None
    if not folder.is_dir():
        made = ", ".join(str(root / n) for n in created) or "nothing"
        raise DataError(f"{archive} did not unpack to {folder} (it created: {made})")
    marker.write_text(json.dumps({
        "name": entry.key, "url": url, "sha256": result.sha256, "time": time.strftime("%Y-%m-%dT%H:%M:%S%z"),
    }, indent=2), encoding="utf-8")
    if not keep_archive:
        archive.unlink(missing_ok=True)
    return DownloadResult(folder, archive, result.sha256, checksum_file, source, resumed_from=result.resumed_from)
