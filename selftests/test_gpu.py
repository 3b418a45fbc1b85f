"""homelab.checks.nvidia_smi: nvidia-smi `-L` and CSV query outputs parsed, bad lines named; the lab's stand-in
agrees."""

from __future__ import annotations

import subprocess
from pathlib import Path

import pytest

from homelab.checks import nvidia_smi
from homelab.checks.nvidia_smi import Gpu
from homelab.model.paths import REPO

ROOT = REPO
FIXTURES = Path(__file__).parent / "fixtures" / "nvidia-smi"
LAB_NVIDIA_SMI = ROOT / "lab" / "dockerfiles" / "hostcore" / "nvidia-smi"
RTX_4090 = "NVIDIA GeForce RTX 4090"


def fixture(name: str) -> str:
    return (FIXTURES / name).read_text()


def lab_nvidia_smi(*args: str) -> str:
    return subprocess.run(["sh", str(LAB_NVIDIA_SMI), *args], capture_output=True, text=True, check=True,
                          timeout=10).stdout


def test_list_one_gpu() -> None:
    """`nvidia-smi -L` gives the index, name and UUID of each GPU."""
    assert nvidia_smi.parse_list(fixture("list-rtx4090.txt")) == [
        Gpu(index=0, name=RTX_4090, uuid="GPU-0a1b2c3d-4e5f-6789-abcd-ef0123456789")]


def test_list_two_gpus_and_mig_lines() -> None:
    """Several GPUs are listed in order; MIG slices under a GPU are not GPUs of their own."""
    assert [(g.index, g.name) for g in nvidia_smi.parse_list(fixture("list-two-gpus.txt"))] == [
        (0, RTX_4090), (1, "NVIDIA GeForce RTX 3060")]
    assert [g.name for g in nvidia_smi.parse_list(fixture("list-mig.txt"))] == ["NVIDIA A100-SXM4-40GB"]


def test_list_empty_output_is_no_gpu() -> None:
    """Empty output parses to no GPU (the caller decides whether that is a failure)."""
    assert nvidia_smi.parse_list("\n") == []


def test_list_driver_failure_names_the_line() -> None:
    """The driver's failure message is no GPU line: a ValueError quotes it with its line number."""
    with pytest.raises(ValueError, match=r"nvidia-smi -L, line 1: \"NVIDIA-SMI has failed"):
        nvidia_smi.parse_list(fixture("list-driver-failed.txt"))


def test_query_with_header_and_units() -> None:
    """The documented query: fields from the header, memory in MiB without its unit."""
    assert nvidia_smi.parse_query(fixture("query.csv")) == [
        Gpu(index=0, name=RTX_4090, memory_total_mib=24564, driver_version="566.36")]


def test_query_noheader_nounits_needs_the_fields() -> None:
    """`noheader,nounits` rows parse with the query's own field list, and not without it."""
    fields = ["name", "memory.total", "memory.used", "driver_version"]
    gpus = nvidia_smi.parse_query(fixture("query-noheader-nounits.csv"), fields)
    assert [(g.index, g.memory_total_mib, g.memory_used_mib) for g in gpus] == [(0, 24564, 1234), (1, 12288, 0)]
    with pytest.raises(ValueError, match=r"line 1: 'NVIDIA GeForce RTX 4090, 24564, 1234, 566.36'"):
        nvidia_smi.parse_query(fixture("query-noheader-nounits.csv"))


def test_query_not_available_value_is_none() -> None:
    """`[N/A]` (WSL2 often has no memory use) becomes None, not an error."""
    (card,) = nvidia_smi.parse_query(fixture("query-wsl2-na.csv"))
    assert (card.memory_total_mib, card.memory_used_mib) == (24564, None)


@pytest.mark.parametrize(("output", "says"), [
    ("name, memory.total [MiB]\nRTX, lots MiB\n", r"line 2: 'RTX, lots MiB': memory.total 'lots'"),
    ("name, memory.total [MiB]\nRTX\n", r"line 2: 'RTX': 1 values for 2 fields"),
    ("name, fan.speed [%]\nRTX, 30 %\n", r"line 1: .*'fan.speed \[%\]' is not a known field"),
    ("name, memory.total [GiB]\nRTX, 24 GiB\n", r"line 1: .* is not in \[MiB\]"),
    ("", r"empty output"),
])
def test_query_errors_name_the_line(output: str, says: str) -> None:
    """A value, a row or a header that does not fit raises a ValueError naming the line."""
    with pytest.raises(ValueError, match=says):
        nvidia_smi.parse_query(output)


def test_query_command_builds_the_documented_argv() -> None:
    """The query argv carries the fields and the csv options; an unknown field is refused."""
    assert nvidia_smi.query_command() == ["nvidia-smi", "--query-gpu=name,memory.total,driver_version", "--format=csv"]
    bare = nvidia_smi.query_command(["name", "memory.used"], header=False, units=False)
    assert bare[-1] == "--format=csv,noheader,nounits"
    with pytest.raises(ValueError, match="must include 'name'"):
        nvidia_smi.query_command(["fan.speed"])


def test_lab_stand_in_speaks_the_documented_formats() -> None:
    """The lab's nvidia-smi answers `-L` and the queries (header and noheader,nounits) in what the parsers read."""
    (listed,) = nvidia_smi.parse_list(lab_nvidia_smi(*nvidia_smi.LIST_COMMAND[1:]))
    (queried,) = nvidia_smi.parse_query(lab_nvidia_smi(*nvidia_smi.query_command()[1:]))
    fields = ["name", "memory.total", "memory.used", "driver_version"]
    argv = nvidia_smi.query_command(fields, header=False, units=False)
    (bare,) = nvidia_smi.parse_query(lab_nvidia_smi(*argv[1:]), fields)
    assert listed.name == queried.name == bare.name
    assert str(listed.uuid).startswith("GPU-")
    assert (queried.memory_total_mib, queried.driver_version) == (bare.memory_total_mib, bare.driver_version)
    assert None not in (queried.memory_total_mib, queried.driver_version, bare.memory_used_mib)
