"""Uptime Kuma 1.23.16's Socket.IO events (server/server.js, socket-handlers/) over the stand-in's store.

Each handler takes the socket and the event's arguments and returns the callback's arguments; a KumaError (or
any failure) becomes `{ok: false, msg}` in the socket layer, as Kuma's try/catch does. Pushes follow Kuma:
`info` (no version) and `setup` on connect, the lists after login (kuma_pushes.py), `monitorList` after every
change, and `heartbeat` with the stats for every beat.
"""

from __future__ import annotations

import contextlib
import sys
from typing import Any

from kuma_auth import TOO_WEAK, make_token, password_digest, read_token, too_weak
from kuma_checks import Checker
from kuma_model import KumaError, added, edited, to_json
from kuma_pushes import Pushes
from kuma_socketio import Handler, Socket, SocketServer
from kuma_store import Row, Store


def _arg(args: list[Any], index: int) -> Any:
    return args[index] if len(args) > index else None


def _ok(msg: str | None = None, **extra: Any) -> list[Any]:
    return [{"ok": True, **({"msg": msg} if msg else {}), **extra}]


def _logged_in(sock: Socket) -> int:
    if sock.user_id is None:
        raise KumaError("You are not logged in.")
    return sock.user_id


def _id(value: Any, missing: str) -> int:
    """A monitor/tag id as the client sent it; `missing` is the message Kuma's null bean gives."""
    try:
        return int(value)
    except (TypeError, ValueError):
        raise KumaError(missing) from None


class KumaEvents:
    def __init__(self, store: Store, checker: Checker) -> None:
        self.store, self.checker = store, checker
        self.io = SocketServer(self._handlers(), self._connected, self._unknown)
        self.push = Pushes(store, self.io)
        store.listeners.append(self.push.heartbeat)

    def _handlers(self) -> dict[str, Handler]:
        return {"needSetup": lambda s, a: [self.store.need_setup()], "setup": self.setup, "login": self.login,
                "loginByToken": self.login_by_token, "logout": self.logout, "add": self.add,
                "editMonitor": self.edit, "getMonitorList": self.monitor_list, "getMonitor": self.get_monitor,
                "getMonitorBeats": self.beats, "pauseMonitor": self.pause, "resumeMonitor": self.resume,
                "deleteMonitor": self.delete, "getTags": self.get_tags, "addTag": self.add_tag,
                "editTag": self.edit_tag, "deleteTag": self.delete_tag, "addMonitorTag": self.monitor_tag("add"),
                "editMonitorTag": self.monitor_tag("edit"), "deleteMonitorTag": self.monitor_tag("delete"),
                "addDockerHost": self.save_docker_host, "deleteDockerHost": self.delete_docker_host,
                "addAPIKey": self.add_api_key, "getAPIKeyList": self.api_key_list,
                "deleteAPIKey": self.delete_api_key, "enableAPIKey": self.api_key_active(True),
                "disableAPIKey": self.api_key_active(False), "getSettings": self.get_settings}

    def _connected(self, sock: Socket) -> None:
        self.push.info(sock, with_version=False)
        if self.store.need_setup():
            sock.emit("setup")

    def _unknown(self, sock: Socket, args: list[Any]) -> list[Any]:
        print(f"uptime-kuma stand-in: event {args[0]!r} is not implemented", file=sys.stderr, flush=True)
        return [{"ok": False, "msg": f"stand-in: the {args[0]!r} event is not implemented"}]

    # --- setup and login --------------------------------------------------------------------------------------
    def setup(self, sock: Socket, args: list[Any]) -> list[Any]:
        username, password = str(_arg(args, 0) or ""), str(_arg(args, 1) or "")
        if too_weak(password):
            raise KumaError(TOO_WEAK)
        self.store.setup(username, password)
        return _ok("Added Successfully.")

    def login(self, sock: Socket, args: list[Any]) -> list[Any] | None:
        data = _arg(args, 0)
        if not isinstance(data, dict):
            return None
        username, password = str(data.get("username") or ""), str(data.get("password") or "")
        user = self.store.user(username)
        if user is None or not self.store.check_first_user(username, password):
            raise KumaError("Incorrect username or password.")
        self._after_login(sock, user)
        return _ok(token=make_token(username, user["password"], self.store.secret()))

    def login_by_token(self, sock: Socket, args: list[Any]) -> list[Any]:
        try:
            claims = read_token(_arg(args, 0), self.store.secret())
        except ValueError:
            raise KumaError("Invalid token.") from None
        user = self.store.user(str(claims.get("username")))
        if user is None:
            raise KumaError("The user is inactive or deleted.")
        if claims.get("h") != password_digest(user["password"]):
            raise KumaError("Invalid token.")  # Kuma: "...due to password change", caught as "Invalid token."
        self._after_login(sock, user)
        return _ok()

    def _after_login(self, sock: Socket, user: Row) -> None:
        """Kuma's afterLogin runs unawaited, so its pushes arrive after the callback."""
        sock.user_id = int(user["id"])
        sock.after_ack.append(lambda: self.push.after_login(sock))

    def logout(self, sock: Socket, args: list[Any]) -> list[Any]:
        sock.user_id = None
        return []

    # --- monitors ---------------------------------------------------------------------------------------------
    def add(self, sock: Socket, args: list[Any]) -> list[Any]:
        _logged_in(sock)
        monitor = self.store.add_monitor(added(dict(_arg(args, 0) or {})))
        self.push.monitor_list()
        return _ok("Added Successfully.", monitorID=monitor["id"])

    def edit(self, sock: Socket, args: list[Any]) -> list[Any]:
        _logged_in(sock)
        fields = dict(_arg(args, 0) or {})
        monitor_id = _id(fields.get("id"), "Cannot read properties of null (reading 'user_id')")
        try:
            self.store.monitor(monitor_id)
        except KeyError:
            raise KumaError("Cannot read properties of null (reading 'user_id')") from None
        monitor = self.store.edit_monitor(monitor_id, edited(fields))
        if monitor["active"]:
            self.checker.restart(monitor_id)
        self.push.monitor_list()
        return _ok("Saved.", monitorID=monitor_id)

    def monitor_list(self, sock: Socket, args: list[Any]) -> list[Any]:
        _logged_in(sock)
        self.push.monitor_list()
        return _ok()

    def get_monitor(self, sock: Socket, args: list[Any]) -> list[Any]:
        _logged_in(sock)
        missing = "Cannot read properties of null (reading 'toJSON')"
        try:
            monitor = self.store.monitor(_id(_arg(args, 0), missing))
        except KeyError:
            raise KumaError(missing) from None
        return _ok(monitor=to_json(monitor, self.store.monitor_tags(monitor["id"])))

    def beats(self, sock: Socket, args: list[Any]) -> list[Any]:
        _logged_in(sock)
        if _arg(args, 1) is None:
            raise KumaError("Invalid period.")
        monitor_id = _id(_arg(args, 0), "Invalid monitor.")
        return _ok(data=self.push.beats_within(monitor_id, float(_arg(args, 1))))

    def pause(self, sock: Socket, args: list[Any]) -> list[Any]:
        _logged_in(sock)
        with contextlib.suppress(KeyError):  # Kuma's UPDATE changes no row
            self.store.set_active(_id(_arg(args, 0), "Invalid monitor."), False)
        self.push.monitor_list()
        return _ok("Paused Successfully.")

    def resume(self, sock: Socket, args: list[Any]) -> list[Any]:
        _logged_in(sock)
        missing = "Cannot read properties of null (reading 'id')"
        monitor_id = _id(_arg(args, 0), missing)
        try:
            self.store.set_active(monitor_id, True)
        except KeyError:
            raise KumaError(missing) from None
        self.checker.restart(monitor_id)
        self.push.monitor_list()
        return _ok("Resumed Successfully.")

    def delete(self, sock: Socket, args: list[Any]) -> list[Any]:
        _logged_in(sock)
        monitor_id = _id(_arg(args, 0), "Invalid monitor.")
        with contextlib.suppress(KeyError):  # Kuma's DELETE removes no row
            self.store.delete_monitor(monitor_id)
        sock.after_ack.append(lambda: self.push.after_delete(monitor_id))
        return _ok("Deleted Successfully.")

    # --- tags and Docker hosts --------------------------------------------------------------------------------
    def get_tags(self, sock: Socket, args: list[Any]) -> list[Any]:
        _logged_in(sock)
        return _ok(tags=self.store.tags())

    def add_tag(self, sock: Socket, args: list[Any]) -> list[Any]:
        _logged_in(sock)
        tag = dict(_arg(args, 0) or {})
        return _ok(tag=self.store.add_tag(tag.get("name"), tag.get("color")))

    def edit_tag(self, sock: Socket, args: list[Any]) -> list[Any]:
        _logged_in(sock)
        tag = dict(_arg(args, 0) or {})
        saved = self.store.edit_tag(_id(tag.get("id"), "Tag not found"), tag.get("name"), tag.get("color"))
        if saved is None:
            raise KumaError("Tag not found")
        return _ok("Saved", tag=saved)

    def delete_tag(self, sock: Socket, args: list[Any]) -> list[Any]:
        _logged_in(sock)
        self.store.delete_tag(_id(_arg(args, 0), "Tag not found"))
        return _ok("Deleted Successfully.")

    def monitor_tag(self, action: str) -> Handler:
        messages = {"add": "Added Successfully.", "edit": "Edited Successfully.", "delete": "Deleted Successfully."}

        def handler(sock: Socket, args: list[Any]) -> list[Any]:
            _logged_in(sock)
            failed = "SQLITE_CONSTRAINT: FOREIGN KEY constraint failed"
            tag_id, monitor_id = _id(_arg(args, 0), failed), _id(_arg(args, 1), failed)
            known = {t["id"] for t in self.store.tags()}, {m["id"] for m in self.store.monitors()}
            if action == "add" and (tag_id not in known[0] or monitor_id not in known[1]):
                raise KumaError(failed)
            self.store.set_monitor_tag(tag_id, monitor_id, str(_arg(args, 2) or ""), add=action == "add",
                                       remove=action == "delete")
            return _ok(messages[action])

        return handler

    def save_docker_host(self, sock: Socket, args: list[Any]) -> list[Any]:
        _logged_in(sock)
        host = self.store.save_docker_host(dict(_arg(args, 0) or {}), _arg(args, 1))
        self.push.docker_hosts()
        return _ok("Saved", id=host["id"])

    def delete_docker_host(self, sock: Socket, args: list[Any]) -> list[Any]:
        _logged_in(sock)
        self.store.delete_docker_host(_id(_arg(args, 0), "docker host not found"))
        self.push.docker_hosts()
        return _ok("Deleted")

    # --- API keys and settings (api-key-socket-handler.js; server.js getSettings) ------------------------------
    def add_api_key(self, sock: Socket, args: list[Any]) -> list[Any]:
        user_id = _logged_in(sock)
        fields = dict(_arg(args, 0) or {})
        key, clear = self.store.add_api_key(user_id, fields.get("name"), fields.get("expires"), fields.get("active"))
        self.push.api_keys(user_id)
        return _ok("Added Successfully.", key=clear, keyID=key["id"])

    def api_key_list(self, sock: Socket, args: list[Any]) -> list[Any]:
        self.push.api_keys(_logged_in(sock))
        return _ok()

    def delete_api_key(self, sock: Socket, args: list[Any]) -> list[Any]:
        user_id = _logged_in(sock)
        self.store.delete_api_key(_arg(args, 0), user_id)
        sock.after_ack.append(lambda: self.push.api_keys(user_id))
        return _ok("Deleted Successfully.")

    def api_key_active(self, active: bool) -> Handler:
        def handler(sock: Socket, args: list[Any]) -> list[Any]:
            user_id = _logged_in(sock)
            self.store.set_api_key_active(_arg(args, 0), active)
            sock.after_ack.append(lambda: self.push.api_keys(user_id))
            return _ok("Enabled Successfully" if active else "Disabled Successfully.")

        return handler

    def get_settings(self, sock: Socket, args: list[Any]) -> list[Any]:
        """Settings of type `general` as a fresh 1.23.16 holds them (clear-old-data.js writes
        keepDataPeriodDays at start) with `serverTimezone` filled in; `apiKeysEnabled` is not of that type."""
        _logged_in(sock)
        return _ok(data={"keepDataPeriodDays": 180, "serverTimezone": "UTC"})
