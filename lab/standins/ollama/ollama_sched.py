"""Which models are loaded and until when, as Ollama's scheduler keeps them (server/sched.go's behaviour)."""

from __future__ import annotations

import threading
import time
from dataclasses import dataclass

from ollama_models import Model
from ollama_wire import DEFAULT_KEEP_ALIVE


@dataclass
class Loaded:
    model: Model
    keep_alive: int  # ns; FOREVER for a negative keep_alive
    expires_ns: int


class Scheduler:
    """Loaded models. A request keeps its model `keep_alive` ns after it ends; 0 unloads it at once."""

    def __init__(self, default_keep_alive: int = DEFAULT_KEEP_ALIVE) -> None:
        self.default_keep_alive = default_keep_alive
        self._lock = threading.Lock()
        self._loaded: dict[str, Loaded] = {}

    def use(self, model: Model, keep_alive: int | None) -> bool:
        """Load `model` (or keep it) for one request; True when it was not loaded before.

        As upstream: a new load takes `keep_alive` or the default; a loaded model keeps its own unless the
        request names one.
        """
        now = time.time_ns()
        with self._lock:
            self._drop_expired(now)
            current = self._loaded.get(model.name)
            fresh = current is None
            duration = keep_alive if keep_alive is not None else (
                self.default_keep_alive if current is None else current.keep_alive)
            if duration <= 0:
                self._loaded.pop(model.name, None)
            else:
                self._loaded[model.name] = Loaded(model, duration, now + duration)
            return fresh

    def unload(self, model: Model) -> None:
        with self._lock:
            self._loaded.pop(model.name, None)

    def running(self) -> list[Loaded]:
        """Loaded models, the longest to live first (as /api/ps sorts them)."""
        with self._lock:
            self._drop_expired(time.time_ns())
            return sorted(self._loaded.values(), key=lambda loaded: -loaded.expires_ns)

    def _drop_expired(self, now: int) -> None:
        for name in [name for name, loaded in self._loaded.items() if loaded.expires_ns <= now]:
            del self._loaded[name]
