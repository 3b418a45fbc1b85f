"""What Uptime Kuma 1.23 pushes without being asked: `info`, the lists after login (server.js afterLogin,
client.js), `monitorList` after changes, and per heartbeat `heartbeat`, `avgPing`, `uptime` and `certInfo`
(Monitor.sendStats). The stats are simple ratios over the kept beats, not Kuma's time-weighted uptime."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta

from kuma_model import VERSION, to_json
from kuma_socketio import Socket, SocketServer
from kuma_store import DOWN, UP, Row, Store

PAGE_KEYS = ("id", "slug", "title", "description", "icon", "theme", "published", "showTags", "customCSS",
             "footerText", "showPoweredBy", "googleAnalyticsId", "showCertificateExpiry")


def _beat_row(monitor_id: int, index: int, beat: Row) -> Row:
    """A heartbeat table row, as heartbeatList and getMonitorBeats send them."""
    return {"id": index, "monitor_id": monitor_id, "status": beat["status"], "msg": beat["msg"],
            "time": beat["time"], "ping": beat["ping"], "duration": beat.get("duration", 0), "down_count": 0,
            "important": int(beat.get("important", False))}


class Pushes:
    def __init__(self, store: Store, io: SocketServer) -> None:
        self.store, self.io = store, io

    def info(self, sock: Socket, with_version: bool) -> None:
        versions = {"version": VERSION, "latestVersion": VERSION, "isContainer": True} if with_version else {}
        sock.emit("info", {**versions, "primaryBaseURL": None, "serverTimezone": "UTC",
                           "serverTimezoneOffset": "+00:00"})

    def monitor_list(self) -> None:
        monitors = {str(m["id"]): to_json(m, self.store.monitor_tags(m["id"]))
                    for m in sorted(self.store.monitors(), key=lambda m: (-(m.get("weight") or 2000), m["name"]))}
        self.io.emit_to_users("monitorList", monitors)

    def docker_hosts(self) -> None:
        hosts = [h | {"userID": 1} for h in self.store.docker_hosts()]
        self.io.emit_to_users("dockerHostList", hosts)

    def after_login(self, sock: Socket) -> None:
        self.monitor_list()
        self.info(sock, with_version=True)
        for event, empty in (("maintenanceList", {}), ("notificationList", []), ("proxyList", [])):
            self.io.emit_to_users(event, empty)
        self.docker_hosts()
        if sock.user_id is not None:
            self.api_keys(sock.user_id)
        pages = {str(p["id"]): {k: p.get(k) for k in PAGE_KEYS} | {"domainNameList": []}
                 for p in self.store.data["status_pages"]}
        self.io.emit_to_users("statusPageList", pages)
        monitors = self.store.monitors()
        for monitor in monitors:
            rows = [_beat_row(monitor["id"], i, b) for i, b in enumerate(self.store.beats(monitor["id"]), 1)]
            sock.emit("heartbeatList", monitor["id"], rows, False)
        for monitor in monitors:
            rows = [_beat_row(monitor["id"], i, b) for i, b in enumerate(self.store.beats(monitor["id"]), 1)]
            sock.emit("importantHeartbeatList", monitor["id"], [r for r in reversed(rows) if r["important"]], False)
        for monitor in monitors:
            self.stats(monitor["id"])

    def api_keys(self, user_id: int) -> None:
        self.io.emit_to_users("apiKeyList", self.store.api_keys(user_id))

    def after_delete(self, monitor_id: int) -> None:
        self.monitor_list()
        self.io.emit_to_users("importantHeartbeatList", monitor_id, [], True)

    def heartbeat(self, monitor: Row, beat: Row) -> None:
        """A Store listener: each beat goes to every logged-in socket, with the monitor's stats."""
        if not self.io.logged_in():
            return
        self.io.emit_to_users("heartbeat", {"monitorID": monitor["id"], "status": beat["status"],
                                            "time": beat["time"], "msg": beat["msg"], "ping": beat["ping"],
                                            "important": beat.get("important", False),
                                            "duration": beat.get("duration", 0)})
        self.stats(monitor["id"])

    def stats(self, monitor_id: int) -> None:
        beats = self.store.beats(monitor_id)
        pings = [b["ping"] for b in self.beats_within(monitor_id, 24) if b["ping"] is not None]
        self.io.emit_to_users("avgPing", monitor_id, int(sum(pings) / len(pings)) if pings else None)
        for hours in (24, 720):
            counted = [b["status"] for b in self.beats_within(monitor_id, hours) if b["status"] in (UP, DOWN)]
            self.io.emit_to_users("uptime", monitor_id, hours, counted.count(UP) / len(counted) if counted else 0)
        cert = next((b["cert"] for b in reversed(beats) if b.get("cert")), None)
        if cert:
            self.io.emit_to_users("certInfo", monitor_id, json.dumps({"valid": cert["valid"], "certInfo": cert}))

    def beats_within(self, monitor_id: int, hours: float) -> list[Row]:
        since = (datetime.now(UTC) - timedelta(hours=hours)).strftime("%Y-%m-%d %H:%M:%S.%f")[:-3]
        beats = self.store.beats(monitor_id)
        return [_beat_row(monitor_id, i, b) for i, b in enumerate(beats, 1) if b["time"] > since]
