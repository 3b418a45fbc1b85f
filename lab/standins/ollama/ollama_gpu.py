"""Whether this container sees a GPU: an `nvidia-smi` on PATH that runs and lists one (`nvidia-smi -L`).

The image carries no nvidia-smi: on a GPU worker the NVIDIA toolkit's CDI spec mounts one into containers
that request `nvidia.com/gpu=all`, and only into those (the lab's CDI spec does the same with a stand-in).
So the answer is asked again at most every `ttl` seconds, never decided at build time.
"""

from __future__ import annotations

import re
import shutil
import subprocess
import threading
import time
from dataclasses import dataclass

_GPU_LINE = re.compile(r"GPU (\d+): (.+?) \(UUID: (GPU-[0-9a-fA-F-]+)\)")


@dataclass(frozen=True)
class Seen:
    """What the last look found: the GPUs' `-L` lines (empty: CPU only) and why, for the log."""

    gpus: tuple[str, ...]
    reason: str


def look() -> Seen:
    """Run `nvidia-smi -L` once."""
    path = shutil.which("nvidia-smi")
    if path is None:
        return Seen((), "no nvidia-smi on PATH")
    try:
        done = subprocess.run([path, "-L"], capture_output=True, text=True, timeout=5, check=False)
    except (OSError, subprocess.TimeoutExpired) as error:
        return Seen((), f"nvidia-smi -L failed: {error}")
    if done.returncode != 0:
        first = (done.stdout + done.stderr).strip().splitlines()[:1]
        return Seen((), f"nvidia-smi -L exited {done.returncode}: {first[0] if first else ''}")
    gpus = tuple(line.strip() for line in done.stdout.splitlines() if _GPU_LINE.fullmatch(line.strip()))
    return Seen(gpus, "nvidia-smi -L lists a GPU" if gpus else "nvidia-smi -L lists no GPU")


class GpuProbe:
    """`look()` cached for `ttl` seconds (0: every call), thread-safe."""

    def __init__(self, ttl: float) -> None:
        self.ttl = ttl
        self._lock = threading.Lock()
        self._seen: Seen | None = None
        self._at = 0.0

    def seen(self) -> Seen:
        with self._lock:
            if self._seen is None or time.monotonic() - self._at >= self.ttl:
                self._seen, self._at = look(), time.monotonic()
            return self._seen

    def visible(self) -> bool:
        return bool(self.seen().gpus)
