"""cAdvisor v0.49.1 stand-in: /healthz and Prometheus /metrics for the Docker containers of this host.

Flags as upstream (`-port`, `--docker_only`, `--housekeeping_interval`, ...; see cadv_flags.py). Containers
are read from the engine (`--docker`, default unix:///var/run/docker.sock) and the cgroup files once per
housekeeping interval in the background; a scrape is served from memory.
"""

from __future__ import annotations

import sys
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

sys.path.append(str(Path(__file__).resolve().parents[1] / "common"))  # standin_serve (an image has it beside this file)

from cadv_docker import Docker, DockerError, Sample, Snapshot, collect
from cadv_flags import FlagError, parse
from cadv_machine import Machine, root_sample
from cadv_metrics import REVISION, VERSION, LabelOptions, render
from standin_serve import serve_until_signal


def log(level: str, message: str) -> None:
    # klog's header: severity letter, date, time, pid, file:line.
    stamp = time.strftime("%m%d %H:%M:%S", time.gmtime())
    print(f"{level}{stamp}.000000       1 cadvisor.py:0] {message}", file=sys.stderr, flush=True)


class Collector:
    """Housekeeping in the background, once per interval, as cAdvisor does: a scrape only reads memory."""

    FIRST_WAIT = 10.0  # a scrape before the first housekeeping waits for it at most this long

    def __init__(self, docker: Docker, interval: float, with_root: bool) -> None:
        self.docker, self.interval, self.with_root = docker, interval, with_root
        self.ready, self.stop = threading.Event(), threading.Event()
        self.current: tuple[Snapshot, Sample | None] = (Snapshot(time.time(), [], ""), None)

    def start(self) -> None:
        threading.Thread(target=self._loop, daemon=True).start()

    def _loop(self) -> None:
        while not self.stop.is_set():
            began = time.monotonic()
            snapshot = collect(self.docker)
            if snapshot.error:
                log("W", f"Couldn't get containers: {snapshot.error}")
            self.current = (snapshot, root_sample() if self.with_root else None)
            self.ready.set()
            self.stop.wait(max(self.interval - (time.monotonic() - began), 0.0))

    def latest(self) -> tuple[Snapshot, Sample | None]:
        self.ready.wait(self.FIRST_WAIT)
        return self.current


class CadvisorServer(ThreadingHTTPServer):
    daemon_threads = True

    def __init__(self, address: tuple[str, int], collector: Collector, machine: Machine, options: LabelOptions,
                 endpoint: str) -> None:
        self.collector, self.machine, self.options, self.endpoint = collector, machine, options, endpoint
        self.machine_read = time.time()
        super().__init__(address, _Handler)


class _Handler(BaseHTTPRequestHandler):
    server: CadvisorServer
    protocol_version = "HTTP/1.1"
    head = False

    def do_HEAD(self) -> None:
        self.do_GET(head=True)  # wget --spider (the stack's healthcheck) sends HEAD

    def do_GET(self, head: bool = False) -> None:
        self.head = head
        path = self.path.split("?")[0]
        if path == "/healthz":
            return self._send(200, "ok", "text/plain; charset=utf-8")
        if path == self.server.endpoint:
            snapshot, root = self.server.collector.latest()
            text = render(snapshot, root, self.server.machine, self.server.machine_read, self.server.options,
                          time.time())
            return self._send(200, text, "text/plain; version=0.0.4; charset=utf-8")
        if path == "/":
            return self._send(307, "", "text/html; charset=utf-8", {"Location": "/containers/"})
        self._send(404, "404 page not found\n", "text/plain; charset=utf-8")

    def _send(self, status: int, text: str, content_type: str, headers: dict[str, str] | None = None) -> None:
        data = text.encode()
        self.send_response_only(status)
        self.send_header("Date", self.date_time_string())
        self.send_header("Content-Type", content_type)
        for name, value in (headers or {}).items():
            self.send_header(name, value)
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        if not self.head:
            self.wfile.write(data)

    def log_message(self, format: str, *args: Any) -> None:
        pass


def main(argv: list[str] | None = None) -> int:
    try:
        flags = parse(sys.argv[1:] if argv is None else argv, lambda message: log("W", message))
    except FlagError as error:
        print(error, file=sys.stderr)
        return 2
    if flags["version"]:
        print(f"cAdvisor version {VERSION} ({REVISION})")
        return 0
    try:
        docker = Docker(flags["docker"])
    except DockerError as error:
        log("E", str(error))
        return 1
    whitelist = tuple(k for k in flags["whitelisted_container_labels"].split(",") if k)
    options = LabelOptions(flags["store_container_labels"], whitelist)
    machine = Machine.read(flags["boot_id_file"], flags["machine_id_file"])
    collector = Collector(docker, flags["housekeeping_interval"], not flags["disable_root_cgroup_stats"])
    server = CadvisorServer((flags["listen_ip"], flags["port"]), collector, machine, options,
                            flags["prometheus_endpoint"])
    log("I", f"Starting cAdvisor version: {VERSION}-{REVISION} on port {flags['port']}")
    collector.start()
    serve_until_signal([server])
    collector.stop.set()
    return 0


if __name__ == "__main__":
    sys.exit(main())
