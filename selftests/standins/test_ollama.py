"""The Ollama 0.5.1 stand-in (lab/standins/ollama): API shapes, load/unload, the CLI, and GPU visibility.

A GPU is "visible" when an `nvidia-smi` on the server's PATH lists one; the tests put the lab's stand-in
nvidia-smi (what CDI mounts into a GPU container in the lab) on PATH, or a broken one, or none.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest
from standin_helpers import HOST, free_port, wait_until

from homelab.model.paths import REPO

ROOT = REPO
CLI = ROOT / "lab" / "standins" / "ollama" / "ollama_cli.py"
LAB_NVIDIA_SMI = ROOT / "lab" / "dockerfiles" / "hostcore" / "nvidia-smi"
DIGEST = "a80c4f17acd55265feec403c7aef86be0c25983ab279d83f3bcd3abbcb5b8b72"
DETAILS = {"parent_model": "", "format": "gguf", "family": "llama", "families": ["llama"],
           "parameter_size": "3.2B", "quantization_level": "Q4_K_M"}


@dataclass
class Ollama:
    base: str
    env: dict[str, str]
    bin_dir: Path

    def get(self, path: str) -> httpx.Response:
        return httpx.get(self.base + path, timeout=5)

    def post(self, path: str, body: object = None, content: bytes | None = None) -> httpx.Response:
        return httpx.post(self.base + path, json=body, content=content, timeout=5)

    def ps(self) -> list[dict[str, object]]:
        models: list[dict[str, object]] = self.get("/api/ps").json()["models"]
        return models

    def load(self, keep_alive: object = None) -> list[dict[str, object]]:
        """Load llama3.2 as a client would (generate without a prompt); /api/ps afterwards."""
        body = {"model": "llama3.2"} | ({} if keep_alive is None else {"keep_alive": keep_alive})
        assert self.post("/api/generate", body).json()["done_reason"] == "load"
        return self.ps()

    def cli(self, *args: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run([sys.executable, str(CLI), *args], env=self.env, capture_output=True, text=True,
                              timeout=10, check=False)


def answers(base: str) -> bool:
    try:
        return httpx.get(base + "/", timeout=1).status_code == 200
    except httpx.TransportError:
        return False


@pytest.fixture
def start(tmp_path: Path) -> Iterator[Callable[..., Ollama]]:
    """Start stand-ins on free loopback ports; `nvidia_smi` is the script put on their PATH (None: no GPU tool)."""
    processes: list[subprocess.Popen[bytes]] = []

    def run(nvidia_smi: Path | None = None, **extra: str) -> Ollama:
        port = free_port()
        bin_dir = tmp_path / f"bin-{port}"
        bin_dir.mkdir()
        if nvidia_smi is not None:
            (bin_dir / "nvidia-smi").symlink_to(nvidia_smi)
        env = {"PATH": f"{bin_dir}:/usr/bin:/bin" if nvidia_smi else str(bin_dir), "PYTHONDONTWRITEBYTECODE": "1",
               "OLLAMA_HOST": f"{HOST}:{port}", "OLLAMA_STANDIN_GPU_TTL": "0", **extra}
        with (tmp_path / f"ollama-{port}.log").open("wb") as log:
            processes.append(subprocess.Popen([sys.executable, str(CLI), "serve"], env=env, stdout=log, stderr=log))
        base = f"http://{HOST}:{port}"
        wait_until(f"the Ollama stand-in on {base}", lambda: answers(base))
        return Ollama(base, env, bin_dir)

    yield run
    for process in processes:
        process.terminate()
        process.wait(5)


@pytest.fixture
def ollama(start: Callable[..., Ollama]) -> Ollama:
    return start()


def test_root_and_version(ollama: Ollama) -> None:
    """GET and HEAD / say "Ollama is running"; /api/version is {"version": "0.5.1"}; unknown paths are gin's 404."""
    root = ollama.get("/")
    assert (root.status_code, root.text) == (200, "Ollama is running")
    head = httpx.head(ollama.base + "/", timeout=5)
    assert (head.status_code, head.content) == (200, b"")
    assert ollama.get("/api/version").json() == {"version": "0.5.1"}
    missing = ollama.get("/api/nothing")
    assert (missing.status_code, missing.text) == (404, "404 page not found")


def test_tags_lists_the_seeded_model(ollama: Ollama) -> None:
    """/api/tags lists llama3.2:latest with upstream's fields, digest, size and details."""
    (model,) = ollama.get("/api/tags").json()["models"]
    assert list(model) == ["name", "model", "modified_at", "size", "digest", "details"]
    assert (model["name"], model["model"], model["size"], model["digest"]) == (
        "llama3.2:latest", "llama3.2:latest", 2019393189, DIGEST)
    assert model["details"] == DETAILS


def test_idle_at_start_as_upstream(ollama: Ollama) -> None:
    """A fresh server has no model loaded (/api/ps lists none), as a real idle Ollama; nothing loads by itself."""
    assert ollama.ps() == []
    assert ollama.get("/api/tags").json()["models"]
    assert ollama.ps() == []


def test_loaded_on_cpu_without_nvidia_smi(ollama: Ollama) -> None:
    """With no nvidia-smi on PATH a loaded model is on the CPU: size_vram 0, kept the default 5 minutes."""
    (model,) = ollama.load()
    assert list(model) == ["name", "model", "size", "digest", "details", "expires_at", "size_vram"]
    assert (model["name"], model["digest"], model["size_vram"]) == ("llama3.2:latest", DIGEST, 0)
    assert isinstance(model["size"], int)
    assert model["size"] > 2019393189
    assert str(model["expires_at"]) < "2300"


def test_preload_is_opt_in_and_forever(start: Callable[..., Ollama]) -> None:
    """OLLAMA_STANDIN_PRELOAD (stand-in only, for faults) loads a model at start to stay, as keep_alive -1."""
    (model,) = start(OLLAMA_STANDIN_PRELOAD="llama3.2:latest").ps()
    assert str(model["expires_at"]) > "2300"


def test_keep_alive_expires(ollama: Ollama) -> None:
    """A model loaded with keep_alive 1 s is gone from /api/ps after it, as upstream's scheduler unloads it."""
    assert len(ollama.load(keep_alive="1s")) == 1
    wait_until("llama3.2 unloaded after keep_alive 1s", lambda: ollama.ps() == [], seconds=5)


def test_on_gpu_when_nvidia_smi_lists_one(start: Callable[..., Ollama]) -> None:
    """The lab's nvidia-smi on PATH (as CDI mounts it) puts the model on the GPU: size_vram equals size."""
    (model,) = start(LAB_NVIDIA_SMI).load()
    assert model["size_vram"] == model["size"]


def test_failing_nvidia_smi_means_cpu(start: Callable[..., Ollama], tmp_path: Path) -> None:
    """An nvidia-smi that fails (no driver) or lists nothing is no GPU."""
    for name, script in [("failing", "echo 'NVIDIA-SMI has failed because it could not communicate'; exit 9"),
                         ("empty", "exit 0")]:
        fake = tmp_path / name
        fake.write_text(f"#!/bin/sh\n{script}\n")
        fake.chmod(0o755)
        (model,) = start(fake).load()
        assert model["size_vram"] == 0, name


def test_gpu_is_asked_again_at_each_request(ollama: Ollama) -> None:
    """GPU visibility is not decided at start: an nvidia-smi appearing or leaving changes the next /api/ps."""
    assert ollama.load()[0]["size_vram"] == 0
    (ollama.bin_dir / "nvidia-smi").symlink_to(LAB_NVIDIA_SMI)
    assert ollama.ps()[0]["size_vram"] == ollama.ps()[0]["size"]
    (ollama.bin_dir / "nvidia-smi").unlink()
    assert ollama.ps()[0]["size_vram"] == 0


def test_unload_and_load(ollama: Ollama) -> None:
    """keep_alive 0 with no prompt unloads ("done_reason": "unload"); an empty prompt loads for 5 minutes."""
    unload = ollama.post("/api/generate", {"model": "llama3.2", "keep_alive": 0}).json()
    assert (unload["model"], unload["response"], unload["done"], unload["done_reason"]) == (
        "llama3.2", "", True, "unload")
    assert unload["created_at"].endswith("Z")
    assert ollama.ps() == []
    load = ollama.post("/api/generate", {"model": "llama3.2"}).json()
    assert (load["done"], load["done_reason"]) == (True, "load")
    (model,) = ollama.ps()
    assert str(model["expires_at"]) < "2300"


def test_generate_answers_in_one_object_or_ndjson(ollama: Ollama) -> None:
    """stream false: one object with metrics; by default: application/x-ndjson lines, the last one done."""
    single = ollama.post("/api/generate", {"model": "llama3.2", "prompt": "Why is the sky blue?", "stream": False})
    body = single.json()
    assert (body["done"], body["done_reason"], body["prompt_eval_count"]) == (True, "stop", 5)
    assert body["response"]
    assert all(body[key] > 0 for key in ("total_duration", "load_duration", "eval_count", "eval_duration"))
    streamed = ollama.post("/api/generate", {"model": "llama3.2", "prompt": "Hi"})
    assert streamed.headers["content-type"] == "application/x-ndjson"
    lines = [json.loads(line) for line in streamed.text.splitlines()]
    assert [line["done"] for line in lines] == [False] * (len(lines) - 1) + [True]
    assert "".join(line["response"] for line in lines) == body["response"]


@pytest.mark.parametrize(("body", "status", "error"), [
    ({"model": "mistral"}, 404, "model 'mistral' not found"),
    (None, 400, "missing request body"),
    ({"model": "llama3.2", "keep_alive": "soon"}, 400, 'time: invalid duration "soon"'),
    ({"model": "llama3.2", "stream": "yes"}, 400,
     "json: cannot unmarshal string into Go struct field GenerateRequest.stream of type bool"),
])
def test_generate_errors_have_upstream_shape(ollama: Ollama, body: object, status: int, error: str) -> None:
    """Errors are {"error": "..."} with upstream's status and text."""
    response = ollama.post("/api/generate", body) if body is not None else ollama.post("/api/generate", content=b"")
    assert (response.status_code, response.json()) == (status, {"error": error})


def test_show(ollama: Ollama) -> None:
    """/api/show gives the details and model info; no name is 400, an unknown one 404."""
    shown = ollama.post("/api/show", {"model": "llama3.2"}).json()
    assert shown["details"] == DETAILS
    assert shown["model_info"]["general.architecture"] == "llama"
    assert ollama.post("/api/show", {}).json() == {"error": "model is required"}
    assert ollama.post("/api/show", {"name": "x"}).status_code == 404


def test_cli_list_ps_version(start: Callable[..., Ollama]) -> None:
    """`ollama list`, `ps` and `--version` ask the server at OLLAMA_HOST and print upstream's tables and lines."""
    ollama = start(LAB_NVIDIA_SMI)
    listed = ollama.cli("list")
    assert listed.returncode == 0
    assert listed.stdout.split()[:8] == ["NAME", "ID", "SIZE", "MODIFIED", "llama3.2:latest", DIGEST[:12], "2.0", "GB"]
    ollama.load(keep_alive=-1)
    running = ollama.cli("ps").stdout
    assert "100% GPU" in running
    assert "Forever" in running
    assert ollama.cli("--version").stdout == "ollama version is 0.5.1\n"


def test_cli_fails_when_the_server_is_down() -> None:
    """The stack's healthcheck (`ollama list`) exits 1 with upstream's message when nothing listens."""
    env = {**os.environ, "OLLAMA_HOST": f"{HOST}:{free_port()}"}
    done = subprocess.run([sys.executable, str(CLI), "list"], env=env, capture_output=True, text=True, timeout=10,
                          check=False)
    assert (done.returncode, done.stderr) == (1, "Error: could not connect to ollama app, is it running?\n")


def test_gpu_spec_against_the_idle_and_the_loaded_stand_in(start: Callable[..., Ollama]) -> None:
    """P3-GPU-002's reader over the stand-in: idle is "could not observe", a model on the CPU a failure, a model
    on the GPU a pass (homelab.checks.gpu, as the spec calls it)."""
    from homelab.checks.gpu import gpu_finding, running_models

    cpu = start()
    assert str(gpu_finding(1, "", running_models(cpu.base, 5), "ollama", "gamer1", "fix")).startswith(
        "could not observe:")
    cpu.load()
    assert "VRAM in use 0 bytes" in str(gpu_finding(1, "", running_models(cpu.base, 5), "ollama", "gamer1", "fix"))
    gpu = start(LAB_NVIDIA_SMI)
    gpu.load()
    assert gpu_finding(1, "", running_models(gpu.base, 5), "ollama", "gamer1", "fix") is None
