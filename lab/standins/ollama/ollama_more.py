"""The routes an operator's own tooling uses beyond generate and show, as Ollama 0.5.1 answers them
(server/routes.go: ChatHandler, EmbedHandler, EmbeddingsHandler, PullHandler, DeleteHandler).

A model that is not pulled is, as upstream's scheduleRunner reports it (handleScheduleError), 404
`model "x" not found, try pulling it first` for chat and embed; generate, show and delete keep their older
`model 'x' not found`. Chat and embed load the model as generate does (the scheduler's keep_alive rules).
"""

from __future__ import annotations

import json
import math
import random
import time
import zlib
from collections.abc import Iterable
from http.server import BaseHTTPRequestHandler
from typing import Any

from ollama_models import LAYERS, Model, find, in_registry, set_pulled, valid_name
from ollama_wire import SECOND, BadRequest, go_time, keep_alive

ANSWER = ("This", " is", " the", " lab's", " Ollama", " stand-in", ":", " no", " model", " runs", " here", ".")
EMBEDDING_LENGTH = 3072  # llama.embedding_length of llama3.2:3b


def not_pulled(name: str) -> dict[str, str]:
    """handleScheduleError's 404 body for a model with no manifest."""
    return {"error": f'model "{name}" not found, try pulling it first'}


def embedding(text: str) -> list[float]:
    """A made-up unit vector for `text`, the same for the same text (upstream normalizes /api/embed's too)."""
    rng = random.Random(zlib.crc32(text.encode()))  # noqa: S311 - a made-up vector, not a secret
    vector = [rng.gauss(0.0, 1.0) for _ in range(EMBEDDING_LENGTH)]
    norm = math.sqrt(sum(value * value for value in vector)) or 1.0
    return [float(f"{value / norm:.7g}") for value in vector]


def metrics(prompt_tokens: int, started: int) -> dict[str, int]:
    """Made-up, non-zero durations (Go omits zeros), in the proportions of a small GPU model."""
    return {"total_duration": time.time_ns() - started + 1_500_000, "load_duration": 1_500_000,
            "prompt_eval_count": prompt_tokens, "prompt_eval_duration": 2_000_000 * max(prompt_tokens, 1),
            "eval_count": len(ANSWER), "eval_duration": 8_000_000 * len(ANSWER)}


class MoreRoutes(BaseHTTPRequestHandler):
    """Mixed into the server's handler, which provides `_json`, `_load` and `_unload`."""

    def _json(self, status: int, value: Any, head: bool = False) -> None:
        raise NotImplementedError

    def _load(self, model: Model, alive: int | None) -> None:
        raise NotImplementedError

    def _unload(self, model: Model) -> None:
        raise NotImplementedError

    def _alive(self, request: dict[str, Any]) -> int | None:
        try:
            return keep_alive(request["keep_alive"]) if request.get("keep_alive") is not None else None
        except ValueError as error:
            raise BadRequest(str(error)) from None

    def _scheduled(self, request: dict[str, Any]) -> Model | None:
        """scheduleRunner: the model loaded for this request, or None with the error answered."""
        name = request.get("model") or ""
        if not name:
            self._json(400, {"error": "model is required"})
            return None
        model, alive = find(name), self._alive(request)
        if model is None:
            self._json(404, not_pulled(name))
            return None
        self._load(model, alive)
        return model

    def _chat(self, request: dict[str, Any]) -> None:
        started, name, messages = time.time_ns(), request.get("model") or "", request.get("messages") or []
        if not isinstance(messages, list):
            raise BadRequest("json: cannot unmarshal " + type(messages).__name__ +
                             " into Go struct field ChatRequest.messages of type []api.Message")
        alive = self._alive(request)
        if not messages and alive is not None and alive < SECOND:
            model = find(name)
            if model is None:
                self._json(404, {"error": f"model '{name}' not found"})
                return
            self._unload(model)
            self._json(200, self._chat_line(name, "", done_reason="unload"))
            return
        if self._scheduled(request) is None:
            return
        if not messages:
            self._json(200, self._chat_line(name, "", done_reason="load"))
            return
        prompt_tokens = sum(len(str(m.get("content") or "").split()) for m in messages if isinstance(m, dict))
        last = {**self._chat_line(name, "", done_reason="stop"), **metrics(prompt_tokens, started)}
        if request.get("stream") is False:
            self._json(200, {**last, "message": {"role": "assistant", "content": "".join(ANSWER)}})
            return
        self._stream([*(self._chat_line(name, token) for token in ANSWER), last])

    @staticmethod
    def _chat_line(name: str, content: str, done_reason: str = "") -> dict[str, Any]:
        line: dict[str, Any] = {"model": name, "created_at": go_time(time.time_ns(), utc=True),
                                "message": {"role": "assistant", "content": content}}
        return {**line, "done_reason": done_reason, "done": True} if done_reason else {**line, "done": False}

    def _embed(self, request: dict[str, Any]) -> None:
        started, value = time.time_ns(), request.get("input")
        if isinstance(value, str):
            texts = [value] if value else []
        elif isinstance(value, list) and all(isinstance(item, str) for item in value):
            texts = list(value)
        elif value is None:
            texts = []
        else:
            self._json(400, {"error": "invalid input type"})
            return
        if self._scheduled(request) is None:
            return
        name = request.get("model")
        if not texts:
            self._json(200, {"model": name, "embeddings": []})
            return
        tokens = sum(len(text.split()) or 1 for text in texts)
        self._json(200, {"model": name, "embeddings": [embedding(text) for text in texts],
                         "total_duration": time.time_ns() - started + 1_500_000, "load_duration": 1_500_000,
                         "prompt_eval_count": tokens})

    def _embeddings(self, request: dict[str, Any]) -> None:
        """The legacy /api/embeddings: one prompt, one vector, not normalized upstream (made up here alike)."""
        if self._scheduled(request) is None:
            return
        prompt = request.get("prompt") or ""
        self._json(200, {"embedding": embedding(prompt) if prompt else []})

    def _pull(self, request: dict[str, Any]) -> None:
        name = request.get("model") or request.get("name") or ""
        if not isinstance(name, str) or not valid_name(name):
            self._json(400, {"error": "invalid model name"})
            return
        progress = list(self._progress(name))
        if request.get("stream") is False:
            end = progress[-1]
            self._json(500 if "error" in end else 200, end if "error" in end else {"status": "success"})
            return
        self._stream(progress)

    def _progress(self, name: str) -> Iterable[dict[str, Any]]:
        """PullModel's progress: manifest, each layer (a cache hit reports its whole size at once), verify,
        write, success; a name the registry does not have ends in `pull model manifest: file does not exist`."""
        yield {"status": "pulling manifest"}
        model = in_registry(name)
        if model is None:
            yield {"error": "pull model manifest: file does not exist"}
            return
        cached = find(name) is not None
        for digest, size in LAYERS[model.name]:
            line = {"status": f"pulling {digest[:12]}", "digest": f"sha256:{digest}", "total": size}
            steps = [size] if cached else [size // 4, size // 2, size]
            yield from ({**line, "completed": done} for done in steps)
        yield {"status": "verifying sha256 digest"}
        yield {"status": "writing manifest"}
        set_pulled(model, True)
        yield {"status": "success"}

    def _delete(self, request: dict[str, Any]) -> None:
        name = request.get("model") or request.get("name") or ""
        if not isinstance(name, str) or not valid_name(name):
            self._json(400, {"error": f'name "{name}" is invalid'})
            return
        model = find(name)
        if model is None:
            self._json(404, {"error": f"model '{name}' not found"})
            return
        set_pulled(model, False)  # upstream removes the manifest and leaves a loaded runner alone
        self.send_response(200)
        self.send_header("Content-Length", "0")
        self.end_headers()

    def _stream(self, lines: Iterable[dict[str, Any]]) -> None:
        """streamResponse: application/x-ndjson, one JSON object a line, chunked as it is produced."""
        self.send_response(200)
        self.send_header("Content-Type", "application/x-ndjson")
        self.send_header("Transfer-Encoding", "chunked")
        self.end_headers()
        for line in lines:
            data = json.dumps(line, separators=(",", ":")).encode() + b"\n"
            self.wfile.write(f"{len(data):x}\r\n".encode() + data + b"\r\n")
        self.wfile.write(b"0\r\n\r\n")
