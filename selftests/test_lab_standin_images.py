"""The stand-in images' build inputs, without Docker: every Dockerfile copies from its own directory and from
lab/standins/common/ (the build context is lab/standins/), every Python stand-in ships standin_serve.py beside its
standin.py and runs that, and an image's hash follows common/ as well as its own files."""

from __future__ import annotations

import glob
import json
import shlex
import shutil
from pathlib import Path

import pytest

from lab import registry, stackimages

STANDINS = stackimages.STANDINS
DIRECTORIES = sorted(stackimages.standins())


def instructions(dockerfile: Path) -> list[tuple[str, str]]:
    """(INSTRUCTION, arguments) with continuation lines joined and comments left out."""
    lines = [line for line in dockerfile.read_text().splitlines() if not line.lstrip().startswith("#")]
    joined = "\n".join(lines).replace("\\\n", " ")
    return [(line.split(None, 1)[0].upper(), line.split(None, 1)[1]) for line in joined.splitlines() if line.strip()]


def copies(directory: Path) -> list[tuple[list[str], str]]:
    """Each COPY of the stand-in's Dockerfile as (sources, destination)."""
    found = []
    for keyword, arguments in instructions(directory / "Dockerfile"):
        if keyword == "COPY":
            words = [word for word in shlex.split(arguments) if not word.startswith("--")]
            found.append((words[:-1], words[-1]))
    return found


def command(directory: Path) -> list[str]:
    """ENTRYPOINT then CMD (exec form), as the container runs them."""
    parts: dict[str, list[str]] = {}
    for keyword, arguments in instructions(directory / "Dockerfile"):
        if keyword in ("ENTRYPOINT", "CMD"):
            parts[keyword] = json.loads(arguments)
    return parts.get("ENTRYPOINT", []) + parts.get("CMD", [])


@pytest.mark.parametrize("directory", DIRECTORIES, ids=lambda d: d.name)
def test_each_copy_source_is_in_its_own_directory_or_common(directory: Path) -> None:
    assert copies(directory), "a stand-in image with nothing of its own"
    for sources, _ in copies(directory):
        for source in sources:
            assert source.split("/")[0] in (directory.name, "common"), source
            assert glob.glob(source, root_dir=STANDINS), f"{source}: nothing in lab/standins/ matches it"


@pytest.mark.parametrize("directory", [d for d in DIRECTORIES if (d / "standin.py").exists()], ids=lambda d: d.name)
def test_a_python_standin_copies_standin_serve_beside_standin_py_and_runs_it(directory: Path) -> None:
    (destination,) = {dest for sources, dest in copies(directory) if f"{directory.name}/*.py" in sources}
    assert any("common/standin_serve.py" in sources and dest == destination for sources, dest in copies(directory))
    entry = f"{destination.rstrip('/')}/standin.py"
    argv = command(directory)
    if directory.name == "ollama":  # upstream's `/bin/ollama serve`: the CLI's serve is standin.main
        assert argv == ["/bin/ollama", "serve"]
        assert "from standin import main" in (directory / "ollama_cli.py").read_text()
    elif argv[0].startswith("/usr/bin/"):  # a wrapper at upstream's binary path (cAdvisor)
        (wrapper,) = [sources[0] for sources, dest in copies(directory) if dest == argv[0]]
        assert f"exec python3 {entry} " in (STANDINS / wrapper).read_text()
    else:
        assert argv[:2] == ["python3", entry]


def test_every_python_standin_has_standin_py_with_main() -> None:
    python = [d for d in DIRECTORIES if any(d.glob("*.py"))]
    assert {d.name for d in python} == {d.name for d in DIRECTORIES if (d / "standin.py").exists()}
    for directory in python:
        assert "\ndef main(" in (directory / "standin.py").read_text(), directory.name


def test_the_image_hash_follows_common_and_the_build_context_is_lab_standins(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    builds: list[tuple[str, ...]] = []
    monkeypatch.setattr(registry, "inspect_format", lambda *args: None)  # no such image yet: build each
    monkeypatch.setattr(registry, "docker", lambda *args, **kwargs: builds.append(args) or "")
    monkeypatch.setattr(registry, "registry_config_digest", lambda name: None)
    monkeypatch.setattr(registry, "push", lambda local, name: None)
    common = tmp_path / "common"
    shutil.copytree(stackimages.COMMON, common, ignore=shutil.ignore_patterns("__pycache__"))
    monkeypatch.setattr(stackimages, "COMMON", common)

    def labels() -> dict[str, str]:
        builds.clear()
        names = stackimages.ensure_standins("base", log=lambda line: None)
        assert len(builds) == len(names)
        spec = f"{registry.SPEC_LABEL}="
        return {build[build.index("-t") + 1]: next(a for a in build if a.startswith(spec)) for build in builds}

    before = labels()
    for build in builds:
        dockerfile = Path(build[build.index("-f") + 1])
        assert (dockerfile.name, dockerfile.parent.parent) == ("Dockerfile", STANDINS)
        assert build[-1] == str(STANDINS)
    assert labels() == before
    (common / "__pycache__").mkdir()
    (common / "__pycache__" / "standin_serve.cpython-313.pyc").write_bytes(b"written by a selftest run")
    assert labels() == before
    (common / "standin_serve.py").write_text((common / "standin_serve.py").read_text() + "\n# changed\n")
    after = labels()
    assert after.keys() == before.keys()
    assert all(after[name] != before[name] for name in before)
