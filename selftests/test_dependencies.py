"""The environment `make setup` builds keeps docker-py's transport intact: no package replaces urllib3."""

from __future__ import annotations

import importlib.metadata

import pytest


def test_urllib3_is_urllib3() -> None:
    """urllib3-future (pulled by niquests, e.g. grafana-client 4+) installs itself as `urllib3`, and docker-py's
    requests over our SSH channel then fail ("'Channel' object has no attribute 'type'")."""
    with pytest.raises(importlib.metadata.PackageNotFoundError):
        importlib.metadata.distribution("urllib3-future")
    import urllib3

    assert urllib3.__version__ == importlib.metadata.version("urllib3")
