"""What `nvidia-smi` says about a machine's GPUs, parsed: `nvidia-smi -L` and `nvidia-smi --query-gpu=... --format=csv`.

The formats are NVIDIA's documented ones (`nvidia-smi --help-query-gpu`): `-L` prints one line per GPU,
`GPU 0: NVIDIA GeForce RTX 4090 (UUID: GPU-...)`, with indented MIG device lines under it; a CSV query prints
a header (`name, memory.total [MiB], driver_version`) unless `noheader`, then one row per GPU, values joined
by ", ", with units (`24564 MiB`) unless `nounits`, and `[N/A]` / `[Not Supported]` where a value is missing.
On WSL2 the same binary comes from the Windows driver, so the same parsers serve the gaming PCs.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass

LIST_COMMAND = ("nvidia-smi", "-L")
QUERY_FIELDS = ("name", "memory.total", "driver_version")
FIELDS = ("index", "name", "uuid", "memory.total", "memory.used", "memory.free", "driver_version")
_MEMORY = ("memory.total", "memory.used", "memory.free")
_MISSING = ("[N/A]", "[Not Supported]", "N/A")
_LIST_LINE = re.compile(r"GPU (?P<index>\d+): (?P<name>.+?) \(UUID: (?P<uuid>GPU-[0-9a-fA-F-]+)\)")
_MIG_LINE = re.compile(r"\s+MIG .+ Device\s+\d+: \(UUID: MIG-\S+\)")
_HEADER_CELL = re.compile(r"(?P<field>[a-z_.]+)(?: \[(?P<unit>[A-Za-z]+)\])?")


@dataclass(frozen=True)
class Gpu:
    """One GPU as nvidia-smi reports it; a field the command did not ask for is None."""

    index: int
    name: str
    uuid: str | None = None
    memory_total_mib: int | None = None
    memory_used_mib: int | None = None
    memory_free_mib: int | None = None
    driver_version: str | None = None


def query_command(fields: Sequence[str] = QUERY_FIELDS, *, header: bool = True, units: bool = True) -> list[str]:
    """The argv of a CSV query for `fields`, e.g. `nvidia-smi --query-gpu=name,memory.total --format=csv`."""
    _check_fields(fields, "query_command")
    options = ["csv"] + ([] if header else ["noheader"]) + ([] if units else ["nounits"])
    return ["nvidia-smi", f"--query-gpu={','.join(fields)}", f"--format={','.join(options)}"]


def parse_list(output: str) -> list[Gpu]:
    """The GPUs of `nvidia-smi -L` output; MIG device lines are skipped; any other line is a ValueError."""
    gpus = []
    for number, line in _lines(output):
        if _MIG_LINE.fullmatch(line):
            continue  # a MIG slice of the GPU above, not a GPU of its own
        match = _LIST_LINE.fullmatch(line.strip())
        if match is None:
            raise ValueError(f"nvidia-smi -L, line {number}: {line!r}: expected 'GPU <n>: <name> (UUID: GPU-...)'")
        gpus.append(Gpu(index=int(match["index"]), name=match["name"], uuid=match["uuid"]))
    return gpus


def parse_query(output: str, fields: Sequence[str] | None = None) -> list[Gpu]:
    """The GPUs of a `--query-gpu=... --format=csv[,noheader][,nounits]` answer.

    With a header the fields are read from it; `fields` (the query's own list) is required for `noheader`
    output and, when given with a header, must match it.
    """
    lines = list(_lines(output))
    if fields is None or (lines and _looks_like_header(lines[0][1])):
        if not lines:
            raise ValueError("nvidia-smi query: empty output, expected a header line")
        number, header = lines.pop(0)
        found = _parse_header(number, header)
        if fields is not None and tuple(fields) != found:
            raise ValueError(f"nvidia-smi query, line {number}: {header!r}: fields {found} differ from the "
                             f"query's {tuple(fields)}")
        fields = found
    _check_fields(fields, "nvidia-smi query")
    return [_parse_row(number, line, fields, row) for row, (number, line) in enumerate(lines)]


def _lines(output: str) -> list[tuple[int, str]]:
    return [(number, line) for number, line in enumerate(output.splitlines(), start=1) if line.strip()]


def _check_fields(fields: Sequence[str], where: str) -> None:
    unknown = [field for field in fields if field not in FIELDS]
    if unknown or "name" not in fields:
        raise ValueError(f"{where}: fields {tuple(fields)} must include 'name' and come from {FIELDS}")


def _looks_like_header(line: str) -> bool:
    cells = [_HEADER_CELL.fullmatch(cell.strip()) for cell in line.split(",")]
    return all(cell is not None and cell["field"] in FIELDS for cell in cells)


def _parse_header(number: int, line: str) -> tuple[str, ...]:
    fields = []
    for cell in line.split(","):
        match = _HEADER_CELL.fullmatch(cell.strip())
        if match is None or match["field"] not in FIELDS:
            raise ValueError(f"nvidia-smi query, line {number}: {line!r}: {cell.strip()!r} is not a known field "
                             f"header; expected one of {FIELDS}, memory ones as 'memory.total [MiB]'")
        if match["field"] in _MEMORY and match["unit"] != "MiB":
            raise ValueError(f"nvidia-smi query, line {number}: {line!r}: {cell.strip()!r} is not in [MiB]")
        fields.append(match["field"])
    return tuple(fields)


def _parse_row(number: int, line: str, fields: Sequence[str], row: int) -> Gpu:
    cells = [cell.strip() for cell in line.split(",")]
    if len(cells) != len(fields):
        raise ValueError(f"nvidia-smi query, line {number}: {line!r}: {len(cells)} values for {len(fields)} "
                         f"fields {tuple(fields)}")
    values = {field: None if cell in _MISSING else cell for field, cell in zip(fields, cells, strict=True)}
    try:
        name = values["name"]
        if not name:
            raise ValueError("name is missing")
        index = _integer("index", values["index"]) if values.get("index") is not None else row
        return Gpu(index=index, name=name, uuid=values.get("uuid"),
                   memory_total_mib=_mib("memory.total", values.get("memory.total")),
                   memory_used_mib=_mib("memory.used", values.get("memory.used")),
                   memory_free_mib=_mib("memory.free", values.get("memory.free")),
                   driver_version=values.get("driver_version"))
    except ValueError as error:
        raise ValueError(f"nvidia-smi query, line {number}: {line!r}: {error}") from None


def _mib(field: str, value: str | None) -> int | None:
    return None if value is None else _integer(field, value.removesuffix(" MiB"))


def _integer(field: str, value: str | None) -> int:
    if value is None or not value.isdigit():
        raise ValueError(f"{field} {value!r} is not a whole number (of MiB for memory)")
    return int(value)
