"""lab.images.debian_mirror: debootstrap uses the Debian mirror this machine's apt uses, or the one named."""

from __future__ import annotations

from pathlib import Path

import pytest

from lab.images import DEFAULT_MIRROR, debian_mirror


def _apt(tmp_path: Path, sources: str = "", listing: str = "") -> Path:
    (tmp_path / "sources.list.d").mkdir()
    if sources:
        (tmp_path / "sources.list.d" / "debian.sources").write_text(sources)
    if listing:
        (tmp_path / "sources.list").write_text(listing)
    return tmp_path


def test_deb822_sources(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("LAB_DEBIAN_MIRROR", raising=False)
    apt = _apt(tmp_path, "Types: deb\nURIs: http://mirror.lan/debian/\nSuites: bookworm\n\n"
                         "Types: deb\nURIs: http://mirror.lan/debian-security\nSuites: bookworm-security\n")
    assert debian_mirror(apt) == "http://mirror.lan/debian"


def test_one_line_sources(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("LAB_DEBIAN_MIRROR", raising=False)
    apt = _apt(tmp_path, listing="# a comment\ndeb-src http://x/debian bookworm main\n"
                                 "deb http://apt-cacher.lan:3142/deb.debian.org/debian bookworm main\n")
    assert debian_mirror(apt) == "http://apt-cacher.lan:3142/deb.debian.org/debian"


def test_override_and_default(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("LAB_DEBIAN_MIRROR", raising=False)
    apt = _apt(tmp_path, listing="deb https://deb.nodesource.com/node_20.x nodistro main\n")
    assert debian_mirror(apt) == DEFAULT_MIRROR
    monkeypatch.setenv("LAB_DEBIAN_MIRROR", "http://local/debian/")
    assert debian_mirror(apt) == "http://local/debian"
