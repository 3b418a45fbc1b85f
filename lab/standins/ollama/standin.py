"""`ollama serve`, or `python3 standin.py`: the HTTP API of Ollama 0.5.1 (server/routes.go) over the stand-in's one
model, without inference.

`size_vram` in /api/ps is the model's whole size when this container sees a GPU (ollama_gpu), else 0, as the
real server reports a model loaded on the GPU or on the CPU.
"""

from __future__ import annotations

import json
import os
import sys
import time
import zlib
from collections.abc import Callable
from http.server import ThreadingHTTPServer
from pathlib import Path
from typing import Any

sys.path.append(str(Path(__file__).resolve().parents[1] / "common"))  # standin_serve (an image has it beside this file)

import ollama_env
from ollama_gpu import GpuProbe
from ollama_models import Model, find, pulled
from ollama_more import ANSWER, MoreRoutes
from ollama_sched import Scheduler
from ollama_wire import FOREVER, SECOND, BadRequest, go_time, keep_alive
from standin_serve import serve_until_signal

VERSION = "0.5.1"
_STRING_FIELDS = ("model", "prompt", "suffix", "system", "template")
_BOOL_FIELDS = ("stream", "raw")
_JSON_TYPES = {str: "string", int: "number", float: "number", bool: "bool", list: "array", dict: "object"}


def log(message: str, **fields: object) -> None:
    """One line in the shape of Ollama's slog output (`time=… level=INFO source=… msg="…" key=value`)."""
    extra = "".join(f" {key}={json.dumps(value) if isinstance(value, str) and ' ' in value else value}"
                    for key, value in fields.items())
    print(f"time={go_time(time.time_ns())[:19]} level=INFO source=standin msg={json.dumps(message)}{extra}",
          file=sys.stderr, flush=True)


class OllamaServer(ThreadingHTTPServer):
    daemon_threads = True

    def __init__(self, address: tuple[str, int], scheduler: Scheduler, gpu: GpuProbe) -> None:
        self.scheduler, self.gpu = scheduler, gpu
        super().__init__(address, Handler)


def read_request(body: bytes, name: str) -> dict[str, Any]:
    """The JSON body as gin's ShouldBindJSON sees it, with its errors' texts."""
    if not body.strip():
        raise BadRequest("missing request body")
    try:
        value = json.loads(body)
    except json.JSONDecodeError as error:
        found = body.decode(errors="replace")[error.pos:error.pos + 1]
        raise BadRequest(f"invalid character '{found}' looking for beginning of value" if found
                         else "unexpected EOF") from None
    if value is None:
        return {}
    if not isinstance(value, dict):
        raise BadRequest(f"json: cannot unmarshal {_JSON_TYPES.get(type(value))} into Go value of type api.{name}")
    for field, wanted in [(f, str) for f in _STRING_FIELDS] + [(f, bool) for f in _BOOL_FIELDS]:
        if value.get(field) is not None and type(value[field]) is not wanted:
            raise BadRequest(f"json: cannot unmarshal {_JSON_TYPES.get(type(value[field]), 'value')} into Go struct "
                             f"field {name}.{field} of type {'bool' if wanted is bool else 'string'}")
    return value


REQUEST_TYPES = {"/api/generate": "GenerateRequest", "/api/show": "ShowRequest", "/api/chat": "ChatRequest",
                 "/api/embed": "EmbedRequest", "/api/embeddings": "EmbeddingRequest", "/api/pull": "PullRequest",
                 "/api/delete": "DeleteRequest"}


class Handler(MoreRoutes):
    protocol_version = "HTTP/1.1"
    server: OllamaServer

    def do_GET(self) -> None:
        self._route(head=False)

    def do_HEAD(self) -> None:
        self._route(head=True)

    def do_POST(self) -> None:
        self._call({"/api/generate": self._generate, "/api/show": self._show, "/api/chat": self._chat,
                    "/api/embed": self._embed, "/api/embeddings": self._embeddings, "/api/pull": self._pull})

    def do_DELETE(self) -> None:
        self._call({"/api/delete": self._delete})

    def _call(self, routes: dict[str, Callable[[dict[str, Any]], None]]) -> None:
        body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
        path = self.path.split("?")[0]
        route = routes.get(path)
        if route is None:
            self._not_found()
            return
        try:
            route(read_request(body, REQUEST_TYPES[path]))
        except BadRequest as error:
            self._json(400, {"error": str(error)})

    def _route(self, head: bool) -> None:
        path = self.path.split("?")[0]
        if path == "/":
            self._send(200, b"Ollama is running", "text/plain; charset=utf-8", head)
        elif path == "/api/version":
            self._json(200, {"version": VERSION}, head)
        elif path == "/api/tags":
            models = sorted(pulled(), key=lambda model: -model.modified_ns)
            self._json(200, {"models": [model.listing() for model in models]}, head)
        elif path == "/api/ps" and not head:
            self._json(200, {"models": self._running()})
        else:
            self._not_found(head)

    def _running(self) -> list[dict[str, Any]]:
        on_gpu = self.server.gpu.visible()
        return [{"name": loaded.model.name, "model": loaded.model.name, "size": loaded.model.loaded_size,
                 "digest": loaded.model.digest, "details": loaded.model.details,
                 "expires_at": go_time(loaded.expires_ns), "size_vram": loaded.model.loaded_size if on_gpu else 0}
                for loaded in self.server.scheduler.running()]

    def _show(self, request: dict[str, Any]) -> None:
        name = request.get("model") or request.get("name")
        if not name:
            self._json(400, {"error": "model is required"})
            return
        model = find(name)
        if model is None:
            self._json(404, {"error": f"model '{name}' not found"})
            return
        self._json(200, model.show())

    def _generate(self, request: dict[str, Any]) -> None:
        started = time.time_ns()
        name, prompt = request.get("model") or "", request.get("prompt") or ""
        model = find(name)
        if model is None:
            self._json(404, {"error": f"model '{name}' not found"})
            return
        try:
            alive = keep_alive(request["keep_alive"]) if request.get("keep_alive") is not None else None
        except ValueError as error:
            raise BadRequest(str(error)) from None
        reply = {"model": name, "created_at": "", "response": "", "done": True}
        if not prompt and alive is not None and alive < SECOND:
            self._unload(model)
            self._json(200, {**reply, "created_at": go_time(time.time_ns(), utc=True), "done_reason": "unload"})
            return
        if request.get("raw") and (request.get("template") or request.get("system") or request.get("context")):
            self._json(400, {"error": "raw mode does not support template, system, or context"})
            return
        self._load(model, alive)
        if not prompt:
            self._json(200, {**reply, "created_at": go_time(time.time_ns(), utc=True), "done_reason": "load"})
            return
        self._answer(model, name, prompt, request.get("stream") is not False, started)

    def _unload(self, model: Model) -> None:
        self.server.scheduler.unload(model)
        log("stand-in: model unloaded", model=model.name)

    def _load(self, model: Model, alive: int | None) -> None:
        """The scheduler's part of a request: load (or keep) the model for `alive` ns, or its default."""
        if self.server.scheduler.use(model, alive):
            log("stand-in: model loaded", model=model.name,
                size_vram=model.loaded_size if self.server.gpu.visible() else 0)

    def _answer(self, model: Model, name: str, prompt: str, stream: bool, started: int) -> None:
        def piece(text: str) -> dict[str, Any]:
            return {"model": name, "created_at": go_time(time.time_ns(), utc=True), "response": text, "done": False}

        def last() -> dict[str, Any]:
            return {**piece(""), "done": True, "done_reason": "stop",
                    "context": [zlib.crc32(token.encode()) % 128000 for token in prompt.split() + list(ANSWER)],
                    # Go omits zero durations; these are made up, in the proportions of a small GPU model
                    "total_duration": time.time_ns() - started + 1_500_000, "load_duration": 1_500_000,
                    "prompt_eval_count": len(prompt.split()), "prompt_eval_duration": 2_000_000 * len(prompt.split()),
                    "eval_count": len(ANSWER), "eval_duration": 8_000_000 * len(ANSWER)}

        if not stream:
            self._json(200, {**last(), "response": "".join(ANSWER)})
            return
        self._stream([*(piece(token) for token in ANSWER), last()])

    def _json(self, status: int, value: Any, head: bool = False) -> None:
        body = json.dumps(value, separators=(",", ":")).encode()
        self._send(status, body, "application/json; charset=utf-8", head)

    def _not_found(self, head: bool = False) -> None:
        self._send(404, b"404 page not found", "text/plain", head)

    def _send(self, status: int, body: bytes, content_type: str, head: bool = False) -> None:
        self.send_response(status)
        self.send_header("Content-Type", content_type)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        if not head:
            self.wfile.write(body)

    def send_response(self, code: int, message: str | None = None) -> None:
        """Gin sends no Server header; the request is logged as gin logs it."""
        self.log_request(code)
        self.send_response_only(code, message)
        self.send_header("Date", self.date_time_string())

    def log_request(self, code: int | str = "-", size: int | str = "-") -> None:
        stamp = time.strftime("%Y/%m/%d - %H:%M:%S")
        print(f'[GIN] {stamp} | {code} | {self.client_address[0]:>15} | {self.command:<7} "{self.path}"',
              file=sys.stderr, flush=True)


def serve(preload: str, gpu_ttl: float) -> int:
    """Listen on OLLAMA_HOST until stopped; `preload` (a model name; empty, the default: none, as upstream starts
    idle) is loaded to stay."""
    address = ollama_env.host()
    scheduler = Scheduler(ollama_env.keep_alive_default())
    gpu = GpuProbe(gpu_ttl)
    try:
        server = OllamaServer((address.host, address.port), scheduler, gpu)
    except OSError as error:
        print(f"Error: listen tcp {address.host}:{address.port}: bind: {str(error.strerror).lower()}", file=sys.stderr)
        return 1
    log(f"Listening on {address.host}:{server.server_address[1]} (version {VERSION})")
    _log_gpus(gpu)
    model = find(preload) if preload else None
    if model is not None:
        scheduler.use(model, FOREVER)  # stays loaded, as after a request with `"keep_alive": -1`
        log("stand-in: model preloaded", model=model.name, keep_alive="forever")
    elif preload:
        log("stand-in: nothing preloaded, no such model", model=preload)
    serve_until_signal([server])
    return 0


def _log_gpus(gpu: GpuProbe) -> None:
    seen = gpu.seen()
    if not seen.gpus:
        log("no compatible GPUs were discovered", reason=seen.reason)
        log("inference compute", id=0, library="cpu")
    for line in seen.gpus:
        log("inference compute", id=line.rsplit("UUID: ", 1)[-1].rstrip(")"), library="cuda",
            name=line.split(": ", 1)[1].rsplit(" (UUID", 1)[0])


def main() -> int:
    """`ollama serve` (the image's command): OLLAMA_STANDIN_PRELOAD, a model to load at start (default none), and
    OLLAMA_STANDIN_GPU_TTL, how long a GPU probe's answer is kept (default 2 s)."""
    return serve(os.environ.get("OLLAMA_STANDIN_PRELOAD", ""), float(os.environ.get("OLLAMA_STANDIN_GPU_TTL", "2")))


if __name__ == "__main__":
    sys.exit(main())
