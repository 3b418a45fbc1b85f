"""P3-GPU-002's judgement (homelab.checks.gpu): a GPU seen by nvidia-smi, or models proven in VRAM; an idle Ollama
with no working nvidia-smi is "could not observe" (it used to read as "VRAM in use 0 bytes", a wrong diagnosis)."""

from __future__ import annotations

from typing import Any

from homelab.checks.gpu import gpu_finding

GPU_LINE = "GPU 0: NVIDIA GeForce RTX 4090 (UUID: GPU-12345678-1234-1234-1234-123456789abc)\n"
NO_DRIVER = "NVIDIA-SMI has failed because it couldn't communicate with the NVIDIA driver."
LOADED = {"name": "llama3.2:latest", "size": 3583952896}


def finding(code: int, output: str, models: list[dict[str, Any]] | Exception) -> str | None:
    return gpu_finding(code, output, models, "container ollama", "gamer1", "request the GPU")


def test_gpu_listed_passes_whatever_ollama_says() -> None:
    """nvidia-smi -L listing a GPU is enough: /api/ps is not needed."""
    assert finding(0, GPU_LINE, []) is None
    assert finding(0, GPU_LINE, OSError("refused")) is None


def test_models_in_vram_pass_without_nvidia_smi() -> None:
    """WSL2's nvidia-smi may fail in the container: a model with size_vram > 0 proves the GPU."""
    assert finding(127, "exec: nvidia-smi: not found", [{**LOADED, "size_vram": 3583952896}]) is None


def test_idle_ollama_is_could_not_observe() -> None:
    """No GPU tool and no model loaded: the spec could not look, says so, and says how to make it observable."""
    found = finding(9, NO_DRIVER, [])
    assert found is not None
    assert found.startswith("could not observe: nvidia-smi -L exit 9")
    assert "no model loaded" in found
    assert "ollama run" in found
    assert "(on gamer1 from container ollama" in found


def test_models_on_cpu_fail_as_a_problem() -> None:
    """Models loaded with size_vram 0 are on the CPU: the GPU request is missing (expected/found/fix)."""
    found = finding(127, "", [{**LOADED, "size_vram": 0}])
    assert found is not None
    assert found.startswith("expected a GPU inside the container")
    assert "llama3.2:latest loaded with VRAM in use 0 bytes" in found
    assert found.endswith("fix: request the GPU")


def test_unreadable_ps_and_odd_nvidia_smi_are_could_not_observe() -> None:
    """/api/ps that cannot be read, and nvidia-smi output that is not its format, never pass."""
    found = finding(0, "something else entirely", OSError("connection refused"))
    assert found is not None
    assert found.startswith("could not observe:")
    assert "connection refused" in found
