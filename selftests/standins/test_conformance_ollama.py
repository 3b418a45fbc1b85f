"""The Ollama stand-in driven by the official Python client (`ollama` on PyPI), written against the real server.

Each test is one operation a homelab operator's own tooling would use, through the client's public API, no
mocks: if the stand-in drifts from Ollama 0.5.1's wire format, the client (not code written here) fails.
The operations the client has that the stand-in leaves out are listed in lab/standins/ollama/README.md
("Out of scope"), each with its reason.
"""

from __future__ import annotations

import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import httpx
import ollama
import pytest
from standin_helpers import HOST, free_port, wait_until

from homelab.model.paths import REPO

CLI = REPO / "lab" / "standins" / "ollama" / "ollama_cli.py"
MODEL = "llama3.2"
DIGEST = "a80c4f17acd55265feec403c7aef86be0c25983ab279d83f3bcd3abbcb5b8b72"


def _answers(base: str) -> bool:
    try:
        return httpx.get(base + "/", timeout=1).status_code == 200
    except httpx.TransportError:
        return False


@pytest.fixture
def client(tmp_path: Path) -> Iterator[ollama.Client]:
    """A fresh stand-in (no GPU tool on PATH) and the official client pointed at it."""
    port = free_port()
    env = {"PATH": str(tmp_path), "PYTHONDONTWRITEBYTECODE": "1", "OLLAMA_HOST": f"{HOST}:{port}",
           "OLLAMA_STANDIN_GPU_TTL": "0"}
    with (tmp_path / "ollama.log").open("wb") as log:
        process = subprocess.Popen([sys.executable, str(CLI), "serve"], env=env, stdout=log, stderr=log)
    base = f"http://{HOST}:{port}"
    try:
        wait_until(f"the Ollama stand-in on {base}", lambda: _answers(base))
        yield ollama.Client(host=base, timeout=10)
    finally:
        process.terminate()
        process.wait(5)


def test_list(client: ollama.Client) -> None:
    """`list` parses /api/tags: the pulled model with its digest, size and details."""
    (model,) = client.list().models
    assert (model.model, model.digest, model.size) == ("llama3.2:latest", DIGEST, 2019393189)
    assert model.details is not None
    assert model.details.parameter_size == "3.2B"


def test_show(client: ollama.Client) -> None:
    """`show` parses /api/show: template, parameters, details and model info."""
    shown = client.show(MODEL)
    assert shown.details is not None
    assert shown.details.family == "llama"
    assert shown.modelinfo is not None
    assert shown.modelinfo["general.architecture"] == "llama"
    assert shown.template
    assert shown.parameters


def test_ps_idle_then_loaded(client: ollama.Client) -> None:
    """`ps` is empty on an idle server; a generate without a prompt loads the model; keep_alive 0 unloads it."""
    assert client.ps().models == []
    assert client.generate(MODEL, keep_alive="5m").done_reason == "load"
    (running,) = client.ps().models
    assert (running.model, running.size_vram) == ("llama3.2:latest", 0)
    assert client.generate(MODEL, keep_alive=0).done_reason == "unload"
    assert client.ps().models == []


def test_generate(client: ollama.Client) -> None:
    """`generate`, streamed and not: the same text, the last part done with metrics."""
    whole = client.generate(MODEL, "Why is the sky blue?")
    parts = list(client.generate(MODEL, "Why is the sky blue?", stream=True))
    assert whole.done
    assert whole.eval_count
    assert whole.response
    assert "".join(part.response for part in parts) == whole.response
    assert [part.done for part in parts][-1] is True


def test_chat(client: ollama.Client) -> None:
    """`chat`, streamed and not: an assistant message; it loads the model as generate does."""
    messages = [{"role": "user", "content": "Hello there"}]
    whole = client.chat(MODEL, messages=messages)
    parts = list(client.chat(MODEL, messages=messages, stream=True))
    assert (whole.message.role, whole.done, whole.done_reason) == ("assistant", True, "stop")
    assert "".join(part.message.content or "" for part in parts) == whole.message.content
    assert [m.model for m in client.ps().models] == ["llama3.2:latest"]


def test_embed_and_legacy_embeddings(client: ollama.Client) -> None:
    """`embed` gives one unit vector per input, the same for the same text; legacy `embeddings` one vector."""
    found = client.embed(MODEL, ["a homelab", "a homelab", "something else"])
    first, again, other = found.embeddings
    assert first == again
    assert first != other
    assert len(first) == 3072
    assert abs(sum(value * value for value in first) - 1) < 1e-3
    assert len(client.embeddings(MODEL, "a homelab").embedding) == 3072


def test_unknown_model_is_upstreams_404(client: ollama.Client) -> None:
    """A model that is not pulled: chat and embed say "try pulling it first", generate the older text; 404."""
    with pytest.raises(ollama.ResponseError) as chat:
        client.chat("mistral", messages=[{"role": "user", "content": "hi"}])
    assert (chat.value.status_code, chat.value.error) == (404, 'model "mistral" not found, try pulling it first')
    with pytest.raises(ollama.ResponseError) as embed:
        client.embed("mistral", "hi")
    assert embed.value.status_code == 404
    with pytest.raises(ollama.ResponseError) as generate:
        client.generate("mistral", "hi")
    assert (generate.value.status_code, generate.value.error) == (404, "model 'mistral' not found")


def test_delete_then_pull_back(client: ollama.Client) -> None:
    """`delete` removes the model from `list`; `pull` (streamed progress) brings it back, ending in success."""
    assert client.delete(MODEL).status == "success"
    assert client.list().models == []
    with pytest.raises(ollama.ResponseError) as again:
        client.delete(MODEL)
    assert again.value.status_code == 404
    progress = list(client.pull(MODEL, stream=True))
    assert progress[0].status == "pulling manifest"
    assert progress[-1].status == "success"
    assert any(p.total and (p.digest or "").startswith("sha256:dde5aa3fc5ff") for p in progress)
    assert [m.model for m in client.list().models] == ["llama3.2:latest"]


def test_pull_cached_and_unknown(client: ollama.Client) -> None:
    """`pull` of a pulled model succeeds at once; of a name the registry lacks, the client raises its error."""
    assert client.pull(MODEL).status == "success"
    with pytest.raises(ollama.ResponseError) as unknown:
        list(client.pull("no-such-model", stream=True))
    assert unknown.value.error == "pull model manifest: file does not exist"
