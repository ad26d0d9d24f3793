"""The downloader against an HTTP server on 127.0.0.1: success, resume after a dropped
connection, checksum mismatch, and archives that try to write outside their folder."""

from __future__ import annotations

import hashlib
import io
import re
import tarfile
import threading
import zipfile
from collections.abc import Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest
from PIL import Image

from ganzoo.data import catalog
from ganzoo.data.catalog import CatalogEntry, lookup
from ganzoo.data.download import (
    DownloadError,
    UnsafeArchiveError,
    download_dataset,
    extract,
    fetch,
    read_recorded_checksum,
)
from ganzoo.errors import DataError

# ---------------------------------------------------------------- a small Range-capable server


@dataclass
class Served:
    files: dict[str, bytes] = field(default_factory=dict)
    cut_after: dict[str, int] = field(default_factory=dict)  # path -> bytes sent before closing (once)
    ignore_range: bool = False
    no_length: set[str] = field(default_factory=set)  # paths sent without Content-Length (body ends at close)
    requests: list[tuple[str, str | None]] = field(default_factory=list)  # (path, Range header)


class Handler(BaseHTTPRequestHandler):
    served: Served  # set on a per-server subclass

    def log_message(self, *args) -> None:  # keep test output clean
        pass

    def do_GET(self) -> None:  # noqa: N802 - http.server's naming
        served = self.served
        rng = self.headers.get("Range")
        served.requests.append((self.path, rng))
        data = served.files.get(self.path)
        if data is None:
            self.send_error(404, "Not Found")
            return
        start = 0
        m = re.fullmatch(r"bytes=(\d+)-", rng or "")
        if m and not served.ignore_range:
            start = int(m.group(1))
            if start >= len(data):
                self.send_response(416)
                self.send_header("Content-Range", f"bytes */{len(data)}")
                self.send_header("Content-Length", "0")
                self.end_headers()
                return
            self.send_response(206)
            self.send_header("Content-Range", f"bytes {start}-{len(data) - 1}/{len(data)}")
        else:
            self.send_response(200)
        body = data[start:]
        if self.path not in served.no_length:
            self.send_header("Content-Length", str(len(body)))
        self.send_header("Last-Modified", "Mon, 01 Jan 2024 00:00:00 GMT")
        self.end_headers()
        cut = served.cut_after.pop(self.path, None)
        if cut is not None:  # announce the full length, send part of it, hang up
            self.wfile.write(body[:cut])
            self.wfile.flush()
            self.close_connection = True
            return
        self.wfile.write(body)


@pytest.fixture
def server() -> Iterator[tuple[str, Served]]:
    served = Served()
    handler = type("BoundHandler", (Handler,), {"served": served})
    httpd = ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{httpd.server_address[1]}/", served
    finally:
        httpd.shutdown()
        httpd.server_close()


# ---------------------------------------------------------------- archives


def png_bytes(color=(200, 10, 10), size=(8, 8)) -> bytes:
    buf = io.BytesIO()
    Image.new("RGB", size, color).save(buf, "PNG")
    return buf.getvalue()


def make_zip(members: dict[str, bytes]) -> bytes:
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w") as zf:
        for name, data in members.items():
            zf.writestr(name, data)
    return buf.getvalue()


def make_tar(members: dict[str, bytes], links: dict[str, tuple[str, bytes]] | None = None) -> bytes:
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w:gz") as tf:
        for name, data in members.items():
            info = tarfile.TarInfo(name)
            info.size = len(data)
            tf.addfile(info, io.BytesIO(data))
        for name, (target, kind) in (links or {}).items():
            info = tarfile.TarInfo(name)
            info.type = kind
            info.linkname = target
            tf.addfile(info)
    return buf.getvalue()


def mini_zip(extra: bytes = b"") -> bytes:
    return make_zip({
        "mini/trainA/a.png": png_bytes(), "mini/trainB/b.png": png_bytes((0, 0, 200)),
        "mini/testA/a.png": png_bytes(), "mini/testB/b.png": png_bytes((0, 0, 200)),
        "__MACOSX/mini/._a.png": b"junk", "mini/trainA/._a.png": b"junk", "mini/extra.bin": extra,
    })


MINI = lookup("cyclegan/mini")
ZIP_PATH = "/cyclegan/datasets/mini.zip"


def files_in(folder: Path) -> set[str]:
    return {p.relative_to(folder).as_posix() for p in folder.rglob("*")}


# ---------------------------------------------------------------- tests


def test_download_unpacks_records_checksum_and_skips_second_time(server, tmp_path):
    url, served = server
    data = mini_zip()
    served.files[ZIP_PATH] = data
    root = tmp_path / "data"
    result = download_dataset(MINI, root, mirror=url, progress=False)
    assert result.folder == root / "mini" and not result.skipped
    assert (root / "mini" / "trainA" / "a.png").is_file()
    assert not (root / "mini" / "trainA" / "._a.png").exists() and not (root / "__MACOSX").exists()
    assert result.checksum_source == "first download"
    assert read_recorded_checksum(root / "mini.zip") == hashlib.sha256(data).hexdigest()
    assert not (root / "mini.zip").exists() and not list(root.glob("*.part*"))  # archive removed by default
    again = download_dataset(MINI, root, mirror=url, progress=False)
    assert again.skipped and len(served.requests) == 1


def test_force_redownload_is_verified_against_the_recorded_checksum(server, tmp_path):
    url, served = server
    served.files[ZIP_PATH] = mini_zip()
    root = tmp_path / "data"
    download_dataset(MINI, root, mirror=url, progress=False)
    ok = download_dataset(MINI, root, mirror=url, progress=False, force=True)
    assert ok.checksum_source == "recorded"
    served.files[ZIP_PATH] = mini_zip(extra=b"changed on the server")
    with pytest.raises(DownloadError, match=r"checksum mismatch(.|\n)*recorded by the first download"):
        download_dataset(MINI, root, mirror=url, progress=False, force=True)
    assert not list(root.glob("mini.zip*.part*"))


def test_resume_after_interrupted_transfer(server, tmp_path):
    url, served = server
    data = mini_zip(extra=bytes(range(256)) * 64)  # ~17 kB, several chunks
    served.files[ZIP_PATH] = data
    served.cut_after[ZIP_PATH] = 5000
    root = tmp_path / "data"
    with pytest.raises(DownloadError, match="interrupted after .*run the same command again to resume"):
        download_dataset(MINI, root, mirror=url, progress=False)
    part = root / "mini.zip.part"
    assert part.stat().st_size == 5000
    result = download_dataset(MINI, root, mirror=url, progress=False)
    assert result.resumed_from == 5000
    assert served.requests[-1] == (ZIP_PATH, "bytes=5000-")
    assert result.sha256 == hashlib.sha256(data).hexdigest()
    assert (root / "mini" / "testB" / "b.png").is_file() and not part.exists()


@pytest.mark.parametrize("bad", ["html", "truncated"])
def test_a_bad_response_records_no_checksum_and_the_next_run_recovers(server, tmp_path, bad):
    """An HTML page, or a tar.gz cut off by a server that sends no Content-Length, is not an
    archive: nothing is trusted, so the next plain run downloads the real file and succeeds."""
    url, served = server
    path = "/pix2pix/datasets/facades.tar.gz"
    good = make_tar({f"facades/train/{i}.jpg": png_bytes(size=(64, 32), color=(i, 0, 0)) for i in range(8)})
    served.files[path] = b"<html><body>Service temporarily unavailable</body></html>" if bad == "html" \
        else good[:len(good) // 2]
    served.no_length.add(path)
    root = tmp_path / "data"
    with pytest.raises(DownloadError, match=r"not a complete zip or tar archive.*no checksum was recorded.*run the"):
        download_dataset(lookup("pix2pix/facades"), root, mirror=url, progress=False)
    assert read_recorded_checksum(root / "facades.tar.gz") is None
    assert not (root / "facades" / ".ganzoo-download-pix2pix.json").exists()
    served.files[path] = good
    result = download_dataset(lookup("pix2pix/facades"), root, mirror=url, progress=False)
    assert result.checksum_source == "first download" and (root / "facades" / "train" / "7.jpg").is_file()
    assert read_recorded_checksum(root / "facades.tar.gz") == hashlib.sha256(good).hexdigest()


def test_force_starts_from_a_clean_partial_file(server, tmp_path):
    url, served = server
    data = mini_zip()
    served.files[ZIP_PATH] = data
    root = tmp_path / "data"
    root.mkdir()
    (root / "mini.zip.part").write_bytes(b"<html>junk left by a proxy</html>")
    (root / "mini.zip.part.json").write_text(f'{{"url": "{url}cyclegan/datasets/mini.zip"}}')
    result = download_dataset(MINI, root, mirror=url, progress=False, force=True)
    assert served.requests == [(ZIP_PATH, None)] and result.resumed_from == 0
    assert result.sha256 == hashlib.sha256(data).hexdigest()


def test_catalog_checksum_wins_over_a_recorded_one(server, tmp_path):
    url, served = server
    data = mini_zip()
    served.files[ZIP_PATH] = data
    root = tmp_path / "data"
    root.mkdir()
    (root / "mini.zip.sha256").write_text("f" * 64 + "  mini.zip\n")  # recorded from a bad response
    known = CatalogEntry("cyclegan", "mini", "unpaired", "test", sha256=hashlib.sha256(data).hexdigest())
    result = download_dataset(known, root, mirror=url, progress=False)
    assert result.checksum_source == "catalog"
    assert read_recorded_checksum(root / "mini.zip") == hashlib.sha256(data).hexdigest()


def test_unpacking_that_fails_on_this_machine_keeps_the_download(server, tmp_path, monkeypatch):
    """A full disk while unpacking: the verified archive and its checksum are kept, and the next
    run unpacks it without downloading it again."""
    import zipfile as zipmod

    url, served = server
    served.files[ZIP_PATH] = mini_zip()
    root = tmp_path / "data"
    real = zipmod.ZipFile.extractall

    def full_disk(self, *args, **kwargs):
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(zipmod.ZipFile, "extractall", full_disk)
    with pytest.raises(DataError, match=r"could not unpack .*mini.zip.*No space left.*kept"):
        download_dataset(MINI, root, mirror=url, progress=False)
    assert (root / "mini.zip").is_file() and read_recorded_checksum(root / "mini.zip")
    monkeypatch.setattr(zipmod.ZipFile, "extractall", real)
    result = download_dataset(MINI, root, mirror=url, progress=False)
    assert len(served.requests) == 1 and (result.folder / "trainA" / "a.png").is_file()


def test_server_ignoring_range_restarts_cleanly(server, tmp_path):
    url, served = server
    data = bytes(range(256)) * 100
    served.files["/f.bin"] = data
    served.cut_after["/f.bin"] = 3000
    with pytest.raises(DownloadError):
        fetch(url + "f.bin", tmp_path / "f.bin", progress=False)
    served.ignore_range = True
    result = fetch(url + "f.bin", tmp_path / "f.bin", progress=False)
    assert served.requests[-1] == ("/f.bin", "bytes=3000-")  # asked to resume, got the whole file
    assert result.resumed_from == 0 and (tmp_path / "f.bin").read_bytes() == data


def test_complete_part_file_is_accepted_on_416(server, tmp_path):
    url, served = server
    served.files["/f.bin"] = b"x" * 1000
    (tmp_path / "f.bin.part").write_bytes(b"x" * 1000)
    result = fetch(url + "f.bin", tmp_path / "f.bin", progress=False)
    assert result.size == 1000 and (tmp_path / "f.bin").read_bytes() == b"x" * 1000


def test_bad_checksum_deletes_the_download(server, tmp_path):
    url, served = server
    served.files[ZIP_PATH] = mini_zip()
    root = tmp_path / "data"
    with pytest.raises(DownloadError, match="checksum mismatch .* expected SHA-256 0{64}"):
        download_dataset(MINI, root, mirror=url, sha256="0" * 64, progress=False)
    assert not (root / "mini").exists() and not list(root.glob("mini.zip*"))
    with pytest.raises(DataError, match="64 hexadecimal"):
        download_dataset(MINI, root, mirror=url, sha256="abc", progress=False)


def test_explicit_checksum_and_catalog_checksum(server, tmp_path):
    url, served = server
    data = mini_zip()
    served.files[ZIP_PATH] = data
    digest = hashlib.sha256(data).hexdigest()
    result = download_dataset(MINI, tmp_path / "a", mirror=url, sha256=digest.upper(), progress=False)
    assert result.checksum_source == "--sha256"
    known = CatalogEntry("cyclegan", "mini", "unpaired", "test", sha256=digest)
    assert download_dataset(known, tmp_path / "b", mirror=url, progress=False).checksum_source == "catalog"


def test_tar_gz_of_pix2pix(server, tmp_path):
    url, served = server
    served.files["/pix2pix/datasets/facades.tar.gz"] = make_tar({
        "facades/train/1.jpg": png_bytes(size=(16, 8)), "facades/test/1.jpg": png_bytes(size=(16, 8)),
    })
    result = download_dataset(lookup("pix2pix/facades"), tmp_path / "data", mirror=url, progress=False)
    assert files_in(result.folder) >= {"train/1.jpg", "test/1.jpg"}


def test_http_errors_are_readable(server, tmp_path):
    url, _ = server
    with pytest.raises(DownloadError, match="HTTP 404.*mirror"):
        download_dataset(lookup("horse2zebra"), tmp_path, mirror=url, progress=False)
    with pytest.raises(DownloadError, match="could not reach"):
        fetch("http://127.0.0.1:9/nothing.zip", tmp_path / "x.zip", progress=False, timeout=2)


@pytest.mark.parametrize("fmt", ["zip", "tar"])
@pytest.mark.parametrize("evil", ["../evil.txt", "mini/../../evil.txt", "/tmp/ganzoo-evil-abs.txt",
                                  "mini\\..\\..\\evil.txt"])
def test_archive_escaping_its_folder_is_refused_whole(tmp_path, fmt, evil):
    members = {"mini/trainA/a.png": png_bytes(), evil: b"pwned"}
    archive = tmp_path / ("bad.zip" if fmt == "zip" else "bad.tar.gz")
    archive.write_bytes(make_zip(members) if fmt == "zip" else make_tar(members))
    target = tmp_path / "root" / "inner"
    with pytest.raises(UnsafeArchiveError):
        extract(archive, target)
    assert files_in(target) == set()  # nothing at all was written
    assert not (tmp_path / "evil.txt").exists() and not (tmp_path / "root" / "evil.txt").exists()
    assert not Path("/tmp/ganzoo-evil-abs.txt").exists()


@pytest.mark.parametrize("link", ["../../outside", "/etc/passwd", "mini/../../../x"])
def test_tar_links_pointing_outside_are_refused(tmp_path, link):
    for kind in (tarfile.SYMTYPE, tarfile.LNKTYPE):
        archive = tmp_path / "links.tar.gz"
        archive.write_bytes(make_tar({"mini/a.txt": b"a"}, {"mini/link": (link, kind)}))
        target = tmp_path / "t"
        with pytest.raises(UnsafeArchiveError, match="link"):
            extract(archive, target)
        assert files_in(target) == set()


@pytest.mark.parametrize("links", [
    # each link looks inside on its own; followed on disk, the chain leaves the target folder
    {"mini/b": (".", tarfile.SYMTYPE), "mini/c": ("b/b/b/../..", tarfile.SYMTYPE)},
    {"mini/up": ("..", tarfile.SYMTYPE), "mini/up2": ("up/..", tarfile.SYMTYPE)},
    {"mini/up": ("..", tarfile.SYMTYPE), "mini/up2": ("up/x/..", tarfile.SYMTYPE),
     "mini/h": ("mini/up2/x", tarfile.LNKTYPE)},
    {"mini/loop": ("loop2", tarfile.SYMTYPE), "mini/loop2": ("loop", tarfile.SYMTYPE),
     "mini/x": ("loop/y", tarfile.SYMTYPE)},
])
def test_tar_link_chains_are_refused_before_anything_is_written(tmp_path, links):
    archive = tmp_path / "chain.tar.gz"
    archive.write_bytes(make_tar({"mini/a.txt": b"a"}, links))
    target = tmp_path / "root" / "t"
    with pytest.raises(UnsafeArchiveError, match="link|outside|'..'"):
        extract(archive, target)
    assert files_in(target) == set()


@pytest.mark.parametrize("fmt", ["zip", "tar"])
def test_malformed_member_lists_are_refused_before_anything_is_written(tmp_path, fmt):
    members = {"mini/a.txt": b"a", "mini/b": b"a file", "mini/b/c.txt": b"b is a file, not a folder"}
    archive = tmp_path / f"m.{fmt}"
    archive.write_bytes(make_zip(members) if fmt == "zip" else make_tar(members))
    with pytest.raises(UnsafeArchiveError, match="mini/b.*both a file and a folder"):
        extract(archive, tmp_path / "t")
    assert files_in(tmp_path / "t") == set()
    archive.write_bytes(make_tar({"mini/a.txt": b"a"}, {"mini/h": ("mini/absent.txt", tarfile.LNKTYPE)}))
    with pytest.raises(UnsafeArchiveError, match="no earlier member"):
        extract(archive, tmp_path / "t2")
    assert files_in(tmp_path / "t2") == set()


def test_links_inside_the_folder_and_devices(tmp_path):
    archive = tmp_path / "ok.tar.gz"
    archive.write_bytes(make_tar({"mini/a.txt": b"a"}, {"mini/b.txt": ("a.txt", tarfile.SYMTYPE)}))
    assert extract(archive, tmp_path / "t") == ["mini"]
    assert (tmp_path / "t" / "mini" / "b.txt").read_bytes() == b"a"
    archive.write_bytes(make_tar({}, {"dev": ("", tarfile.CHRTYPE)}))
    with pytest.raises(UnsafeArchiveError, match="device"):
        extract(archive, tmp_path / "t2")


def test_malicious_archive_from_the_server_writes_nothing(server, tmp_path):
    url, served = server
    served.files[ZIP_PATH] = make_zip({"mini/trainA/a.png": png_bytes(), "../../evil.txt": b"pwned"})
    root = tmp_path / "a" / "data"
    with pytest.raises(UnsafeArchiveError, match="outside"):
        download_dataset(MINI, root, mirror=url, progress=False)
    assert not (root / "mini").exists() and not (tmp_path / "evil.txt").exists()
    assert not (tmp_path / "a" / "evil.txt").exists()


def test_not_an_archive(server, tmp_path):
    url, served = server
    served.files[ZIP_PATH] = b"<html>maintenance</html>"
    with pytest.raises(DataError, match="neither a zip nor a tar"):
        download_dataset(MINI, tmp_path, mirror=url, progress=False)


def test_catalog_names_urls_and_errors(monkeypatch):
    assert lookup("horse2zebra").url() == "http://efrosgans.eecs.berkeley.edu/cyclegan/datasets/horse2zebra.zip"
    assert lookup("edges2shoes").url() == "http://efrosgans.eecs.berkeley.edu/pix2pix/datasets/edges2shoes.tar.gz"
    monkeypatch.setenv(catalog.MIRROR_ENV, "http://127.0.0.1:1/m")
    assert lookup("night2day").url() == "http://127.0.0.1:1/m/pix2pix/datasets/night2day.tar.gz"
    with pytest.raises(DataError, match="cyclegan/facades .*pix2pix/facades"):
        lookup("facades")
    with pytest.raises(DataError, match="did you mean 'horse2zebra'"):
        lookup("horse2zebr")
    for name in ("cityscapes", "pix2pix/cityscapes"):
        with pytest.raises(DataError):
            entry = lookup(name) if "/" in name else lookup("pix2pix/cityscapes")
            download_dataset(entry, "unused")
    names = {e.key for e in catalog.entries()}
    for expected in ("cyclegan/apple2orange", "cyclegan/summer2winter_yosemite", "cyclegan/monet2photo",
                     "cyclegan/cezanne2photo", "cyclegan/ukiyoe2photo", "cyclegan/vangogh2photo", "cyclegan/maps",
                     "cyclegan/iphone2dslr_flower", "cyclegan/ae_photos", "cyclegan/mini_pix2pix",
                     "cyclegan/mini_colorization", "cyclegan/grumpifycat", "pix2pix/maps", "pix2pix/edges2handbags"):
        assert expected in names


def test_cityscapes_explains_how_to_prepare(tmp_path):
    with pytest.raises(DataError, match="prepare_cityscapes_dataset.py"):
        download_dataset(lookup("pix2pix/cityscapes"), tmp_path)


def test_cli_download_list_and_mirror_env(server, tmp_path, ganzoo_cli, monkeypatch):
    url, served = server
    served.files[ZIP_PATH] = mini_zip()
    monkeypatch.setenv(catalog.MIRROR_ENV, url)
    result = ganzoo_cli("data", "download", "mini", "--root", tmp_path / "d", "--no-progress")
    assert result.exit_code == 0, result.output
    assert "ok" in result.output and 'type = "unpaired_folders"' in result.output
    assert (tmp_path / "d" / "mini" / "trainB" / "b.png").is_file()
    result = ganzoo_cli("data", "download", "mini", "--root", tmp_path / "d", "--no-progress")
    assert result.exit_code == 0 and "already" in result.output
    result = ganzoo_cli("data", "download", "facades", "--root", tmp_path / "d")
    assert result.exit_code == 2 and "pix2pix/facades" in result.output
    result = ganzoo_cli("data", "list", "--json")
    assert result.exit_code == 0 and url + "cyclegan/datasets/mini.zip" in result.output


def test_zip_symlink_pointing_outside_is_refused(tmp_path):
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w") as zf:
        info = zipfile.ZipInfo("mini/link")
        info.external_attr = (0o120777 << 16)  # a symlink entry, as `zip -y` writes it
        zf.writestr(info, "../../outside")
        zf.writestr("mini/a.txt", "a")
    archive = tmp_path / "l.zip"
    archive.write_bytes(buf.getvalue())
    with pytest.raises(UnsafeArchiveError, match="outside"):
        extract(archive, tmp_path / "t")
    assert files_in(tmp_path / "t") == set()
