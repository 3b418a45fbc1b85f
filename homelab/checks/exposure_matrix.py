"""The exposure matrix: who can reach what, as the run's reachability specs observed it.

One `Cell` per probe: on a host (or the homelab's public address), what was probed (a row: a service port,
a name through the reverse proxy, ssh, an unplanned port the sweep found), from where (a source: the runner,
a vantage point, another host), what the policy expects and what was found. Specs in the pytest process
record into the process-wide `MATRIX` (from several threads at once); the audit clears it at the start of a
run and puts `MATRIX.to_json()` into results.json (`Run.exposure`), which the report renders as tables.
"""

from __future__ import annotations

import threading
from collections.abc import Iterable, Mapping
from dataclasses import asdict, dataclass, fields
from typing import Any

PUBLIC = "public address"  # the `host` of cells probed at the homelab's public address
EXPECTED = ("open", "closed")


@dataclass(frozen=True)
class Cell:
    """One probe of the matrix, and whether what was found is what the policy allows."""

    host: str  # host name, or "public address"
    row: str  # what was probed, e.g. "portainer 9443/tcp", "portainer.home.example.com https"
    source: str  # where from: runner, guest, wan, vpn-client, or a host name
    expected: str  # "open" | "closed" (what the policy allows)
    found: str  # what was observed, or "not observed: WHY"
    ok: bool

    def __post_init__(self) -> None:
        if self.expected not in EXPECTED:
            raise ValueError(f"Cell.expected is {self.expected!r}; expected one of {', '.join(EXPECTED)}")

    @property
    def key(self) -> tuple[str, str, str]:
        """What a later record replaces: the same host, row and source."""
        return (self.host, self.row, self.source)

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> Cell:
        """A cell from `to_dict`'s form; keys other than the fields are ignored, a missing one is a KeyError."""
        text = {f.name: str(data[f.name]) for f in fields(cls) if f.name != "ok"}
        return cls(**text, ok=bool(data["ok"]))


class ExposureMatrix:
    """A thread-safe collection of cells, one per (host, row, source): a later record replaces the earlier."""

    def __init__(self, cells: Iterable[Cell] = ()) -> None:
        self._lock = threading.Lock()
        self._cells: dict[tuple[str, str, str], Cell] = {}
        for cell in cells:
            self.record(cell)

    def record(self, cell: Cell) -> None:
        with self._lock:
            self._cells[cell.key] = cell

    def clear(self) -> None:
        with self._lock:
            self._cells.clear()

    def cells(self) -> list[Cell]:
        """A snapshot of the cells, sorted by (host, row, source)."""
        with self._lock:
            return sorted(self._cells.values(), key=lambda c: c.key)

    def __len__(self) -> int:
        with self._lock:
            return len(self._cells)

    def to_json(self) -> list[dict[str, Any]]:
        """The cells as a list of dicts (JSON-ready), in `cells()` order."""
        return [cell.to_dict() for cell in self.cells()]

    @classmethod
    def from_json(cls, data: Iterable[Mapping[str, Any]]) -> ExposureMatrix:
        """A matrix from `to_json`'s list of dicts (say `Run.exposure` of a results.json)."""
        return cls(Cell.from_dict(item) for item in data)


MATRIX = ExposureMatrix()  # the run's matrix: specs record into it, the audit reads it at session finish
