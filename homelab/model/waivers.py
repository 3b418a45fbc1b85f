"""Waivers: accepted exceptions to specs, in `waivers.yaml` beside the inventory (committed; not secret).

A waiver names a spec id, optionally one target (a host, or the report's Target such as `portainer@platform`),
why the failure is accepted, who approved it and until when. A waived failure does not fail the run; it is
reported as waived with its justification. An expired waiver is ignored, with a warning. A malformed file or
date is an error naming the file, line and field; so is an id (or target) that no spec of the run has.
"""

from __future__ import annotations

import datetime
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from homelab.model.schema import Reader, SchemaError
from homelab.model.yamlfile import YamlError, dotted, load_yaml

FIELDS = ("spec", "host", "justification", "expires", "approved_by")
WAIVED = "waived"  # the prefix of a waived report's `wasxfail`, and the result shown


class WaiverError(Exception):
    """The waivers file cannot be used; the message is one line naming the file, the field and the fix."""


@dataclass(frozen=True)
class Waiver:
    spec: str
    host: str | None
    justification: str
    expires: datetime.date
    approved_by: str
    where: str  # `FILE:LINE: waivers.N`, the entry, for messages

    def covers(self, spec_id: str, targets: Iterable[str]) -> bool:
        return spec_id == self.spec and (self.host is None or self.host in set(targets))

    def expired(self, today: datetime.date) -> bool:
        return self.expires < today

    def reason(self) -> str:
        """The text a waived result carries: why, who, until when."""
        return f"{WAIVED}: {self.justification} (approved by {self.approved_by}, until {self.expires})"

    def as_dict(self) -> dict[str, Any]:
        return {"spec": self.spec, "host": self.host, "justification": self.justification,
                "expires": self.expires.isoformat(), "approved_by": self.approved_by}


@dataclass
class Waivers:
    path: Path | None = None
    active: list[Waiver] = field(default_factory=list)
    expired: list[Waiver] = field(default_factory=list)

    def find(self, spec_id: str, targets: Iterable[str]) -> Waiver | None:
        names = set(targets)
        return next((w for w in self.active if w.covers(spec_id, names)), None)

    def check_known(self, known: Mapping[str, set[str]]) -> None:
        """Every waiver names a spec id the suite has, and (if any) one of that spec's targets."""
        for waiver in self.active + self.expired:
            if waiver.spec not in known:
                close = sorted(s for s in known if s.split("-")[:2] == waiver.spec.split("-")[:2])[:5]
                hint = f" (like {', '.join(close)})" if close else ""
                raise WaiverError(f"{waiver.where}.spec: unknown spec id {waiver.spec!r}; "
                                  f"expected the id of a spec under tests/{hint}")
            if waiver.host is not None and waiver.host not in known[waiver.spec]:
                raise WaiverError(f"{waiver.where}.host: {waiver.host!r} is no target of {waiver.spec}; expected "
                                  f"one of {', '.join(sorted(known[waiver.spec])) or '(none: leave host out)'}")


def _entry(item: Reader) -> Waiver:
    item.only(*FIELDS, expected="a mapping with spec, justification, expires, approved_by (and optionally host)")
    expires = item.child("expires")
    if not isinstance(expires.data, datetime.date) or isinstance(expires.data, datetime.datetime):
        shown = "missing" if expires.data is None else f"{expires.data!r}"
        expires.fail(f"is {shown}; expected a date like 2026-12-31 (YYYY-MM-DD, unquoted)")
    line = item.lines.get(item.path)
    return Waiver(
        spec=str(item.string("spec", required=True, expected="a spec id like P1-NET-001")),
        host=item.string("host", expected="a host or target name from the report, like platform"),
        justification=str(item.string("justification", required=True, expected="why the failure is accepted")),
        expires=expires.data,
        approved_by=str(item.string("approved_by", required=True, expected="who approved the waiver")),
        where=f"{item.file}:{line}: {dotted(item.path)}" if line else f"{item.file}: {dotted(item.path)}",
    )


def load_waivers(path: Path, today: datetime.date) -> Waivers:
    """Read `path` (`waivers: [...]`); an empty file or list waives nothing."""
    if not path.is_file():
        raise WaiverError(f"{path}: file not found; expected a waivers file (copy waivers.yaml.example)")
    try:
        data, lines = load_yaml(path)
        top = Reader(data if data is not None else {}, path, lines)
        top.only("waivers", expected="a mapping with the key `waivers`")
        entries = [_entry(item) for item in top.reader_list("waivers", "a list of waivers")]
    except (YamlError, SchemaError) as exc:
        raise WaiverError(str(exc)) from None
    return Waivers(path, [w for w in entries if not w.expired(today)], [w for w in entries if w.expired(today)])
