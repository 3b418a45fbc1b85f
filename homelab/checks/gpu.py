"""P3-GPU-002's judgement: a GPU inside the Ollama container (`nvidia-smi -L`), or else Ollama's own word that
its loaded models sit in VRAM (`size_vram` in `/api/ps`).

An idle Ollama has no model loaded (`/api/ps` lists none: a real one unloads five minutes after its last
request), so it says nothing about where a model would run. When `nvidia-smi -L` fails as well, the spec
could not look: it fails "could not observe", saying how to make it observable. It does not load a model
itself: that puts gigabytes into the VRAM of a PC its owner may be using, for a time the spec cannot bound
(a cold load reads the whole model from disk), and a spec observes, it does not change what it checks.
"""

from __future__ import annotations

from typing import Any

import httpx

from homelab.checks import could_not_observe, problem
from homelab.checks.nvidia_smi import parse_list

LOAD_HINT = ("load a model to make it observable (`docker exec ollama ollama run MODEL ''`, or any request), "
             "or make `nvidia-smi -L` work in the container")


def running_models(base_url: str, timeout: float) -> list[dict[str, Any]]:
    """Ollama's /api/ps models; httpx.HTTPError or ValueError when it cannot be read."""
    answer = httpx.get(f"{base_url}/api/ps", timeout=timeout)
    answer.raise_for_status()
    models = answer.json().get("models")
    if not isinstance(models, list):
        raise ValueError(f"/api/ps answered {answer.text[:120]!r}, not {{\"models\": [...]}}")
    return [model for model in models if isinstance(model, dict)]


def listed_gpus(code: int, output: str) -> tuple[int, str]:
    """How many GPUs `nvidia-smi -L` listed (0 when it failed or printed something else), and what it said."""
    text = output.strip()
    try:
        return (len(parse_list(output)) if code == 0 else 0), text
    except ValueError as exc:
        return 0, f"{text[:120]} ({exc})"


def gpu_finding(code: int, output: str, models: list[dict[str, Any]] | Exception, where: str, host: str,
                fix: str) -> str | None:
    """None when a GPU is seen (nvidia-smi) or proven (models in VRAM); else the failure message."""
    gpus, said = listed_gpus(code, output)
    if gpus:
        return None
    smi = f"nvidia-smi -L exit {code} ({said[:160] or 'no output'})"
    if isinstance(models, Exception):
        return could_not_observe(f"{smi}, and Ollama's /api/ps could not be read ({models})", host,
                                 f"{where} and its /api/ps") + f"; fix: {fix}"
    if not models:
        why = f"{smi}, and Ollama has no model loaded (/api/ps lists none), so where models run cannot be seen"
        return could_not_observe(why, host, f"{where} and its /api/ps") + f"; fix: {fix}, or {LOAD_HINT}"
    vram = sum(int(model.get("size_vram") or 0) for model in models)
    if vram > 0:
        return None
    names = ", ".join(str(model.get("name")) for model in models)
    return problem(expected="a GPU inside the container (nvidia-smi -L) or Ollama's models in VRAM",
                   found=f"{smi}; {names} loaded with VRAM in use 0 bytes (on the CPU)", where=where, fix=fix)
