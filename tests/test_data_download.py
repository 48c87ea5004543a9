"""Downloads against a real HTTP server on 127.0.0.1 (http.server in a thread; no mocks, no internet)."""

from __future__ import annotations

import hashlib
import os
import socket
import stat

import pytest
from data_helpers import Response, local_http_server

from pl_powerlaw.atomic import atomic_file
from pl_powerlaw.data import download as download_module
from pl_powerlaw.data.download import DownloadError, download_file, ensure_files

PAYLOAD = bytes(range(256)) * 1000  # 256,000 bytes: several chunks
MD5 = hashlib.md5(PAYLOAD).hexdigest()


def closed_port_url() -> str:
    """A URL on 127.0.0.1 where nothing listens (connection refused at once)."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    return f"http://127.0.0.1:{port}"


def test_downloads_verified_bytes_and_leaves_only_the_file(tmp_path):
    with local_http_server({"/f.bin": Response(PAYLOAD)}) as (url, requests):
        path = download_file([f"{url}/f.bin"], tmp_path / "sub" / "f.bin", MD5, progress=False)
    assert path.read_bytes() == PAYLOAD
    assert requests == ["/f.bin"]
    umask = os.umask(0)
    os.umask(umask)
    assert stat.S_IMODE(path.stat().st_mode) == 0o666 & ~umask  # not mkstemp's 0600
    assert sorted(p.name for p in path.parent.iterdir()) == ["f.bin"]


@pytest.mark.parametrize(
    ("response", "reason"),
    [
        pytest.param(Response(PAYLOAD[:-1] + b"x"), "md5", id="wrong-bytes"),
        pytest.param(
            Response(PAYLOAD[:100_000], length=len(PAYLOAD)),
            f"connection closed after 100000 of {len(PAYLOAD)} bytes",
            id="dropped-connection",
        ),
        pytest.param(Response(b"nope", status=403), "HTTP 403", id="http-403"),
    ],
)
def test_a_bad_mirror_raises_and_leaves_nothing_behind(tmp_path, response, reason):
    with local_http_server({"/f.bin": response}) as (url, _):
        with pytest.raises(DownloadError) as info:
            download_file([f"{url}/f.bin"], tmp_path / "f.bin", MD5, progress=False)
    message = str(info.value)
    assert f"{url}/f.bin" in message and reason in message
    assert str(tmp_path / "f.bin") in message
    assert list(tmp_path.iterdir()) == []


def test_falls_back_to_the_next_mirror(tmp_path):
    routes = {"/a/f.bin": Response(b"wrong"), "/b/f.bin": Response(PAYLOAD)}
    with local_http_server(routes) as (url, requests):
        download_file([f"{url}/a/f.bin", f"{url}/b/f.bin"], tmp_path / "f.bin", MD5, progress=False)
    assert requests == ["/a/f.bin", "/b/f.bin"]
    assert (tmp_path / "f.bin").read_bytes() == PAYLOAD
    assert [p.name for p in tmp_path.iterdir()] == ["f.bin"]


def test_keyboard_interrupt_mid_download_leaves_nothing_behind(tmp_path, monkeypatch):
    class InterruptingBar:
        """A progress bar whose first update is a Ctrl-C."""

        def __init__(self, **kwargs):
            pass

        def __enter__(self):
            return self

        def __exit__(self, *exc):
            return False

        def update(self, n):
            raise KeyboardInterrupt

    monkeypatch.setattr(download_module, "tqdm", InterruptingBar)
    with local_http_server({"/f.bin": Response(PAYLOAD)}) as (url, _):
        with pytest.raises(KeyboardInterrupt):
            download_file([f"{url}/f.bin"], tmp_path / "f.bin", MD5, progress=False)
    assert list(tmp_path.iterdir()) == []


def test_atomic_file_keeps_the_old_file_when_writing_fails(tmp_path):
    dest = tmp_path / "f.bin"
    dest.write_bytes(b"old")
    with pytest.raises(RuntimeError, match="disk full"):
        with atomic_file(dest) as tmp:
            tmp.write_bytes(b"partial")
            raise RuntimeError("disk full")
    assert dest.read_bytes() == b"old"
    assert [p.name for p in tmp_path.iterdir()] == ["f.bin"]


FILES = {"one.gz": hashlib.md5(b"one").hexdigest(), "two.gz": hashlib.md5(b"two").hexdigest()}


def test_ensure_files_downloads_only_the_missing_ones(tmp_path):
    (tmp_path / "one.gz").write_bytes(b"one")
    routes = {"/m/one.gz": Response(b"one"), "/m/two.gz": Response(b"two")}
    with local_http_server(routes) as (url, requests):
        paths = ensure_files(tmp_path, FILES, [f"{url}/m/"], progress=False)
    assert paths == [tmp_path / "one.gz", tmp_path / "two.gz"]
    assert requests == ["/m/two.gz"]
    assert (tmp_path / "two.gz").read_bytes() == b"two"


def test_offline_error_names_every_missing_path_and_every_url(tmp_path):
    mirrors = [closed_port_url() + "/a", closed_port_url() + "/b/"]
    with pytest.raises(DownloadError) as info:
        ensure_files(tmp_path / "mnist", FILES, mirrors, progress=False, what="mnist", timeout=5)
    message = str(info.value)
    assert "\n" not in message
    for name in FILES:
        assert str(tmp_path / "mnist" / name) in message
    assert f"{mirrors[0]}/one.gz" in message and f"{mirrors[1]}one.gz" in message
    assert not (tmp_path / "mnist").exists()  # a failed download creates no (empty) folder


def test_download_false_names_the_missing_paths(tmp_path):
    with pytest.raises(FileNotFoundError) as info:
        ensure_files(tmp_path, FILES, ["http://unused/"], download=False)
    assert str(tmp_path / "one.gz") in str(info.value) and "download=True" in str(info.value)
    assert not isinstance(info.value, DownloadError)
