"""What the phase 3 specs share: a GPU worker in gaming mode skips its GPU specs, saying so."""

from __future__ import annotations

import threading

import pytest

from homelab import gaming

_records: dict[str, str | None] = {}
_lock = threading.Lock()


@pytest.fixture
def not_gaming(access, reach):
    """`not_gaming(host)`: skip the spec when the worker is off (host-down policy) or in gaming mode."""
    def check(host) -> None:
        __tracebackhide__ = True
        reach(host)
        with _lock:
            if host.name not in _records:
                _records[host.name] = gaming.describe(access.ssh.run(host, gaming.READ).stdout)
        if _records[host.name]:
            pytest.skip(_records[host.name])
    return check
