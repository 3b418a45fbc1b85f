"""The dashboard's query statistics (`/api/dashboard/stats/get`).

Shapes from 13.6.0's `DnsServerCore/WebServiceDashboardApi.cs` (`GetStats`). Every answered query is kept in
memory (the last 100 000; upstream keeps per-minute counters on disk), so a restart starts from zero.
"""

from __future__ import annotations

import threading
import time
from collections import Counter, deque
from datetime import UTC, datetime
from typing import Any

COUNTERS = ("totalQueries", "totalNoError", "totalServerFailure", "totalNxDomain", "totalRefused",
            "totalAuthoritative", "totalRecursive", "totalCached", "totalBlocked", "totalDropped", "totalClients")
# stats type -> (minutes per interval, intervals, label format), as GetStats' switch
WINDOWS = {"lasthour": (1, 60, "HH:mm"), "lastday": (60, 24, "MM/DD HH:00"), "lastweek": (1440, 7, "MM/DD"),
           "lastmonth": (1440, 31, "MM/DD"), "lastyear": (43200, 12, "MM/YYYY")}
DATASETS = (("Total", "totalQueries", "102, 153, 255"), ("No Error", "totalNoError", "92, 184, 92"),
            ("Server Failure", "totalServerFailure", "217, 83, 79"), ("NX Domain", "totalNxDomain", "120, 120, 120"),
            ("Refused", "totalRefused", "91, 192, 222"), ("Authoritative", "totalAuthoritative", "150, 150, 0"),
            ("Recursive", "totalRecursive", "23, 162, 184"), ("Cached", "totalCached", "111, 84, 153"),
            ("Blocked", "totalBlocked", "255, 165, 0"), ("Dropped", "totalDropped", "30, 30, 30"),
            ("Clients", "totalClients", "51, 122, 183"))
RCODES = {"NOERROR": "totalNoError", "SERVFAIL": "totalServerFailure", "NXDOMAIN": "totalNxDomain",
          "REFUSED": "totalRefused"}


class QueryLog:
    """One entry per answered query: (time, rcode, answered how, client, name, type); the last 100 000."""

    def __init__(self) -> None:
        self.entries: deque[tuple[float, str, str, str, str, str]] = deque(maxlen=100_000)
        self.lock = threading.Lock()

    def add(self, rcode: str, how: str, client: str, name: str, qtype: str) -> None:
        with self.lock:
            self.entries.append((time.time(), rcode, how, client, name, qtype))

    def stats(self, kind: str, zones: int) -> dict[str, Any]:
        """The `response` of /api/dashboard/stats/get for `type=kind` (lastHour ... lastYear)."""
        minutes, count, label_format = WINDOWS[kind.lower()]
        now = time.time()
        start = now - minutes * 60 * count
        with self.lock:
            entries = [e for e in self.entries if e[0] >= start]
        buckets = [_totals([e for e in entries if start + i * minutes * 60 <= e[0] < start + (i + 1) * minutes * 60])
                   for i in range(count)]
        labels = [datetime.fromtimestamp(start + (i + 1) * minutes * 60, UTC).strftime(_strftime(label_format))
                  for i in range(count)]
        totals = _totals(entries)
        answered = ("totalAuthoritative", "totalRecursive", "totalCached", "totalBlocked", "totalDropped")
        types = Counter(e[5] for e in entries).most_common()
        return {
            "stats": totals | {"zones": zones, "cachedEntries": 0, "allowedZones": 0, "blockedZones": 0,
                               "allowListZones": 0, "blockListZones": 0},
            "mainChartData": {"labelFormat": label_format, "labels": labels, "datasets": [
                {"label": label, "backgroundColor": f"rgba({rgb}, 0.1)", "borderColor": f"rgb({rgb})",
                 "borderWidth": 2, "fill": True, "data": [b[key] for b in buckets]} for label, key, rgb in DATASETS]},
            "queryResponseChartData": {"labels": [k[len("total"):] for k in answered],
                                       "datasets": [{"data": [totals[k] for k in answered]}]},
            "queryTypeChartData": {"labels": [t for t, _ in types], "datasets": [{"data": [n for _, n in types]}]},
            "topClients": [{"name": c, "hits": n, "rateLimited": False}
                           for c, n in Counter(e[3] for e in entries).most_common(10)],
            "topDomains": [{"name": d, "hits": n} for d, n in Counter(e[4] for e in entries).most_common(10)],
            "topBlockedDomains": [],
        }


def _totals(entries: list[tuple[float, str, str, str, str, str]]) -> dict[str, int]:
    totals = dict.fromkeys(COUNTERS, 0)
    for _, rcode, how, _client, _name, _qtype in entries:
        totals["totalQueries"] += 1
        if rcode in RCODES:
            totals[RCODES[rcode]] += 1
        if how:
            totals[how] += 1
    totals["totalClients"] = len({e[3] for e in entries})
    return totals


def _strftime(label_format: str) -> str:
    return (label_format.replace("YYYY", "%Y").replace("MM", "%m").replace("DD", "%d").replace("HH", "%H")
            .replace("mm", "%M"))

