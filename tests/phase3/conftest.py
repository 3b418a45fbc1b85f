"""What the phase 3 specs share: a GPU worker's gaming state (homelab.gaming.read), read once per worker and run.

A GPU spec skips with "gaming mode" only when gaming mode is recorded and the GPU stack is verifiably stopped; a
record with the stack running is P3-GAMING-001's failure (the GPU specs then run as usual); a state that cannot
be read fails the spec as "could not observe", never skips it.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from typing import Any

import pytest

from homelab import gaming
from homelab.checks import could_not_observe


@pytest.fixture(scope="session")
def _gaming_states() -> tuple[dict[str, gaming.GamingState | gaming.GamingUnknown], threading.Lock]:
    return {}, threading.Lock()


@pytest.fixture
def gaming_state(access, reach, _gaming_states) -> Callable[[Any], gaming.GamingState]:
    """`gaming_state(host)`: the worker's gaming state (the host-down policy first: a worker that is off skips)."""
    states, lock = _gaming_states

    def read(host) -> gaming.GamingState:
        __tracebackhide__ = True
        reach(host)
        with lock:
            if host.name not in states:
                try:
                    states[host.name] = gaming.read(lambda command: access.ssh.run(host, command))
                except gaming.GamingUnknown as exc:
                    states[host.name] = exc
        found = states[host.name]
        if isinstance(found, gaming.GamingUnknown):
            pytest.fail(could_not_observe(str(found), host.name, f"{gaming.MARKER} and `docker ps` over SSH"),
                        pytrace=False)
        return found
    return read


@pytest.fixture
def not_gaming(gaming_state) -> Callable[[Any], None]:
    """`not_gaming(host)`: skip the spec when the worker is off (host-down policy), or in gaming mode with its GPU
    stack verifiably stopped."""
    def check(host) -> None:
        __tracebackhide__ = True
        reason = gaming_state(host).skip_reason
        if reason:
            pytest.skip(reason)
    return check
