"""A HostAccess over fakes, for selftests that run real specs without hosts: the plugin's `on` fixture (the one
way a spec acts on a host, homelab/specs/onhost.py) is built over it unchanged, so its policies are the real ones.

    @pytest.fixture(scope="session")
    def access():
        return FakeAccess(ssh=Ssh(), engine=lambda host: FakeEngine())

Or, calling a spec function directly: `fake_on(engine=..., ssh=...)` gives the `on` argument.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from homelab.specs.onhost import Hosts, On
from homelab.transport.ssh import CommandResult


class FakeAccess:
    """What homelab.specs.onhost asks of HostAccess: `reach` (the host-down policy: here, `reach(host)` if given),
    `docker`, `infra`, `ssh` (`run(host, command, timeout=None)`, `failure(host)`) and `off`."""

    def __init__(self, *, ssh: Any = None, engine: Callable[[Any], Any] | None = None,
                 reach: Callable[[Any], Any] | None = None, infra: Callable[[Any], Any] | None = None) -> None:
        self.ssh = ssh
        self._engine = engine
        self._reach = reach
        self._infra = infra
        self.off: set[str] = set()
        self.plain = True  # nothing in the background: the fakes answer

    def reach(self, target: Any, nodeid: str) -> Any:
        return self._reach(target) if self._reach else None

    def docker(self, target: Any, nodeid: str) -> Any:
        assert self._engine is not None, "this fake has no engine"
        return self._engine(target)

    def infra(self, target: Any, nodeid: str) -> Any:
        assert self._infra is not None, "this fake has no testinfra host"
        return self._infra(target)

    def answering(self) -> set[str]:
        return set()

    def close(self) -> None:
        pass


class GamingSsh:
    """`ssh` of a GPU worker whose gaming record is `record` (None: not in gaming mode), with `running` of its GPU
    stack's containers running, as homelab.checks.gaming.COMMAND reads it."""

    def __init__(self, record: str | None, running: tuple[str, ...] = ()) -> None:
        self.record, self.running = record, running

    def run(self, target: Any, command: str, timeout: float | None = None) -> CommandResult:
        if self.record is None:
            return CommandResult(0, "@@ no marker\n", "")
        rows = "".join(f"{name}\tgpu-worker\n" for name in self.running)
        return CommandResult(0, f"@@ marker\n{self.record}\n@@ running\n{rows}", "")


def fake_on(**parts: Any) -> On:
    """The `on` argument of a spec function called directly, over a FakeAccess of `parts` (without `ssh`: a host
    that is not in gaming mode)."""
    parts.setdefault("ssh", GamingSsh(None))
    return On(Hosts(FakeAccess(**parts)), "selftest")  # type: ignore[arg-type]
