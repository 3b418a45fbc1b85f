"""The report's "Exposure matrix" section: who can reach what, one table per host (homelab.checks.exposure_matrix).

Tables: the public address first, then the hosts by name. Rows: what was probed, in natural order (numbers
compared as numbers: `8081/tcp` before `10000/tcp`). Columns: the sources that probed the host, the
runner and the vantage points first (runner, vpn-client, guest, wan), then the others (hosts) by name.
A cell reads `expected → found`; a failing one has the class `fail` and the text "✗ FAIL" (it reads the same
printed in black and white); a cell not probed from that source reads NOT_PROBED (an en dash).
"""

from __future__ import annotations

import re
from collections import defaultdict
from html import escape

from homelab.checks.exposure_matrix import PUBLIC, Cell, ExposureMatrix
from homelab.report.results import Run

SOURCES = ("runner", "vpn-client", "guest", "wan")  # the first columns, in this order
FAIL = "✗ FAIL"
NOT_PROBED = "–"

CSS = """
table.matrix { width: auto; } table.matrix td { white-space: nowrap; }
table.matrix td.fail { background: #ffebe9; color: #cf222e; font-weight: 700; outline: 2px solid #cf222e; }
table.matrix td.not-probed { color: #57606a; text-align: center; }
table.matrix td.unobserved { font-style: italic; }
@media print { table.matrix td.fail { outline: 2px solid #000; } }
"""


def _natural(text: str) -> tuple[tuple[int, int | str], ...]:
    return tuple((0, int(part)) if part.isdigit() else (1, part.lower()) for part in re.split(r"(\d+)", text) if part)


def _host_order(host: str) -> tuple[int, str]:
    return (0 if host == PUBLIC else 1, host)


def _source_order(source: str) -> tuple[int, str]:
    return (SOURCES.index(source), "") if source in SOURCES else (len(SOURCES), source)


def _cell(cell: Cell | None) -> str:
    if cell is None:
        return f'<td class="not-probed">{NOT_PROBED}</td>'
    text = escape(f"{cell.expected} → {cell.found}")
    if not cell.ok:
        return f'<td class="fail"><b>{FAIL}</b> {text}</td>'
    css = ' class="unobserved"' if cell.found.startswith("not observed") else ""
    return f"<td{css}>{text}</td>"


def _slug(host: str, used: set[str]) -> str:
    base = "matrix-" + (re.sub(r"[^a-z0-9]+", "-", host.lower()).strip("-") or "host")
    slug, n = base, 1
    while slug in used:
        n += 1
        slug = f"{base}-{n}"
    used.add(slug)
    return slug


def _table(host: str, cells: list[Cell], table_id: str) -> str:
    sources = sorted({c.source for c in cells}, key=_source_order)
    grid = {(c.row, c.source): c for c in cells}
    failing = sum(not c.ok for c in cells)
    head = "".join(f"<th>{escape(s)}</th>" for s in sources)
    rows = "".join(
        f"<tr><th>{escape(row)}</th>{''.join(_cell(grid.get((row, s))) for s in sources)}</tr>"
        for row in sorted({c.row for c in cells}, key=_natural))
    caption = f"{escape(host)}: {_count(len(cells), failing)}"
    return (f'<table class="matrix" id="{table_id}"><caption>{caption}</caption>'
            f"<tr><th>Probed</th>{head}</tr>{rows}</table>")


def _count(probes: int, failing: int) -> str:
    return f"{probes} probe{'s' if probes != 1 else ''}, {failing} unexpected"


def render(run: Run) -> str:
    """The inside of the section: the sentence, the count line, one table per host (or why there is none)."""
    cells = ExposureMatrix.from_json(run.exposure).cells()
    if not cells:
        return "<p>No reachability was probed in this run.</p>"
    by_host: dict[str, list[Cell]] = defaultdict(list)
    for cell in cells:
        by_host[cell.host].append(cell)
    used: set[str] = set()
    tables = "".join(_table(host, by_host[host], _slug(host, used)) for host in sorted(by_host, key=_host_order))
    failing = sum(not c.ok for c in cells)
    return (f"<p>Who can reach what: one table per host (and one for the homelab's public address); each row is "
            f"what was probed, each column where the probe came from, each cell what the policy expects "
            f"→ what was found. {FAIL} marks a cell where what was found is not what the policy allows; "
            f"{NOT_PROBED} means not probed from there."
            f'</p><p id="matrix-count"><b>{_count(len(cells), failing)}</b></p>{tables}')
