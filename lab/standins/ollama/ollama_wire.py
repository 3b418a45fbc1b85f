"""How Ollama (a Go program) writes times, durations and sizes, so the stand-in's JSON and CLI read the same."""

from __future__ import annotations

import datetime as dt
import re
import time

SECOND = 1_000_000_000
FOREVER = 2**63 - 1  # Go's math.MaxInt64 nanoseconds: what a negative keep_alive means
DEFAULT_KEEP_ALIVE = 5 * 60 * SECOND
_UNITS = {"ns": 1, "us": 1_000, "µs": 1_000, "μs": 1_000, "ms": 1_000_000, "s": SECOND, "m": 60 * SECOND,
          "h": 3600 * SECOND}


class BadRequest(Exception):
    """A request gin would refuse before the handler: 400 {"error": message}."""


_PART = re.compile(r"(\d+(?:\.\d*)?|\.\d+)(ns|us|µs|μs|ms|s|m|h)")


def go_time(ns: int, *, utc: bool = False) -> str:
    """RFC 3339 with up to nine fraction digits, trailing zeros dropped, as Go's time.Time marshals to JSON."""
    seconds, fraction = divmod(ns, SECOND)
    offset = 0 if utc else time.localtime(seconds).tm_gmtoff
    zone = dt.timezone(dt.timedelta(seconds=offset))
    stamp = dt.datetime.fromtimestamp(0, zone) + dt.timedelta(seconds=seconds)
    digits = f".{fraction:09d}".rstrip("0").rstrip(".")
    suffix = "Z" if offset == 0 else stamp.strftime("%z")[:3] + ":" + stamp.strftime("%z")[3:]
    return stamp.strftime("%Y-%m-%dT%H:%M:%S") + digits + suffix


def parse_go_time(text: str) -> int:
    """Nanoseconds since the epoch of an RFC 3339 time as go_time writes it (the CLI reads the API's times)."""
    match = re.fullmatch(r"(.{19})(?:\.(\d{1,9}))?(Z|[+-]\d\d:\d\d)", text)
    if match is None:
        raise ValueError(f"not an RFC 3339 time: {text!r}")
    zone = "+00:00" if match[3] == "Z" else match[3]
    whole = dt.datetime.fromisoformat(match[1] + zone)
    epoch = dt.datetime(1970, 1, 1, tzinfo=dt.UTC)
    return (whole - epoch) // dt.timedelta(seconds=1) * SECOND + int((match[2] or "0").ljust(9, "0"))


def parse_duration(text: str) -> int:
    """Go's time.ParseDuration ("5m", "1h30m", "-1s", "0"), in nanoseconds; its error text when it fails."""
    body = text[1:] if text[:1] in "+-" else text
    if body == "0":
        return 0
    total, position = 0.0, 0
    for match in _PART.finditer(body):
        if match.start() != position:
            break
        total += float(match[1]) * _UNITS[match[2]]
        position = match.end()
    if not body or position != len(body):
        raise ValueError(f'time: invalid duration "{text}"')
    return -int(total) if text.startswith("-") else int(total)


def keep_alive(value: object) -> int:
    """A request's keep_alive (seconds as a number, or a duration string) in ns; negative means forever."""
    if isinstance(value, bool) or not isinstance(value, int | float | str):
        raise ValueError(f"Unsupported type: '{_go_type(value)}'")
    if isinstance(value, str):
        ns = parse_duration(value)
        return FOREVER if ns < 0 else ns
    return FOREVER if value < 0 else int(value) * SECOND


def _go_type(value: object) -> str:
    return {bool: "bool", list: "[]interface {}", dict: "map[string]interface {}"}.get(type(value), "<nil>")


def human_bytes(size: int) -> str:
    """Ollama's format.HumanBytes: decimal units, one decimal below 10 unless whole ("2.0 GB" is "2 GB")."""
    for unit, scale in (("TB", 10**12), ("GB", 10**9), ("MB", 10**6), ("KB", 10**3)):
        if size >= scale:
            value = size / scale
            if value >= 10 or value == int(value):
                return f"{int(value)} {unit}"
            return f"{value:.1f} {unit}"
    return f"{size} B"


def human_time(ns: int, now_ns: int) -> str:
    """Ollama's format.HumanTime: "2 weeks ago", "4 minutes from now", "Forever"."""
    delta = now_ns - ns
    if delta // SECOND // 3600 // 24 // 365 < -20:
        return "Forever"
    return f"{_human_duration(-delta)} from now" if delta < 0 else f"{_human_duration(delta)} ago"


def _human_duration(ns: int) -> str:
    seconds = ns // SECOND
    if seconds < 1:
        return "Less than a second"
    if seconds < 60:
        return "1 second" if seconds == 1 else f"{seconds} seconds"
    minutes = seconds // 60
    if minutes < 60:
        return "About a minute" if minutes == 1 else f"{minutes} minutes"
    hours = int(ns / SECOND / 3600 + 0.5)
    if hours == 1:
        return "About an hour"
    if hours < 48:
        return f"{hours} hours"
    if hours < 24 * 7 * 2:
        return f"{hours // 24} days"
    if hours < 24 * 30 * 2:
        return f"{hours // 24 // 7} weeks"
    if hours < 24 * 365 * 2:
        return f"{hours // 24 // 30} months"
    return f"{seconds // 3600 // 24 // 365} years"
