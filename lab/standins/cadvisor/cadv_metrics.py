"""cAdvisor v0.49's /metrics, rendered as client_golang writes it.

As upstream: every container series carries the union of all containers' label names (`id`, `name`,
`image`, `container_label_*`, empty where a container lacks one), label names sanitized to [a-zA-Z0-9_],
per-container samples carry the sample's timestamp (ms), and families come sorted by name.
"""

from __future__ import annotations

import math
import re
from collections.abc import Callable
from dataclasses import dataclass
from decimal import Decimal

from cadv_docker import Sample, Snapshot
from cadv_machine import Machine

VERSION, REVISION = "v0.49.1", "6f3f25ba"
INVALID_LABEL_CHARS = re.compile(r"[^a-zA-Z0-9_]")
NETWORK = (("receive_bytes", "rx_bytes", "bytes received"), ("receive_packets", "rx_packets", "packets received"),
           ("receive_packets_dropped", "rx_dropped", "packets dropped while receiving"),
           ("receive_errors", "rx_errors", "errors encountered while receiving"),
           ("transmit_bytes", "tx_bytes", "bytes transmitted"),
           ("transmit_packets", "tx_packets", "packets transmitted"),
           ("transmit_packets_dropped", "tx_dropped", "packets dropped while transmitting"),
           ("transmit_errors", "tx_errors", "errors encountered while transmitting"))


@dataclass(frozen=True)
class LabelOptions:
    store_container_labels: bool = True
    whitelist: tuple[str, ...] = ()


def go_float(value: float) -> str:
    """strconv.FormatFloat(v, 'g', -1, 64), as client_golang writes values: 409, 0.49, 1.795637605e+09."""
    if math.isnan(value):
        return "NaN"
    if math.isinf(value):
        return "+Inf" if value > 0 else "-Inf"
    if value == 0:
        return "0"
    sign, digits, exponent = Decimal(repr(float(value))).normalize().as_tuple()
    text = "".join(map(str, digits))
    point = int(exponent) + len(text) - 1
    prefix = "-" if sign else ""
    if point < -4 or point >= 6:  # Go: %e when the exponent is < -4 or >= 6 (shortest form)
        mantissa = text[0] + ("." + text[1:] if len(text) > 1 else "")
        return f"{prefix}{mantissa}e{'-' if point < 0 else '+'}{abs(point):02d}"
    return prefix + format(Decimal(repr(abs(float(value)))).normalize(), "f")


def _escape(value: str) -> str:
    return value.replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\n")


def container_labels(sample: Sample, options: LabelOptions) -> dict[str, str]:
    labels = {"id": sample.cgroup}
    if sample.name:
        labels["name"] = sample.name
    if sample.image:
        labels["image"] = sample.image
    for key, value in sample.labels.items():
        if options.store_container_labels or key in options.whitelist:
            labels["container_label_" + key] = value
    return labels


class _Families:
    def __init__(self) -> None:
        self.families: dict[str, tuple[str, str, list[str]]] = {}

    def add(self, name: str, kind: str, help_text: str, labels: dict[str, str], value: float,
            timestamp: float | None = None) -> None:
        pairs = ",".join(f'{key}="{_escape(labels[key])}"' for key in sorted(labels))
        line = f"{name}{{{pairs}}} {go_float(value)}" if pairs else f"{name} {go_float(value)}"
        if timestamp is not None:
            line += f" {int(timestamp * 1000)}"
        self.families.setdefault(name, (kind, help_text, []))[2].append(line)

    def text(self) -> str:
        out = []
        for name in sorted(self.families):
            kind, help_text, lines = self.families[name]
            out += [f"# HELP {name} {help_text}", f"# TYPE {name} {kind}", *sorted(lines)]
        return "\n".join(out) + "\n"


def _container(families: _Families, sample: Sample, labels: dict[str, str], taken: float, now: float) -> None:
    add: Callable[..., None] = families.add
    add("container_start_time_seconds", "gauge", "Start time of the container since unix epoch in seconds.",
        labels, float(int(sample.created)))
    add("container_last_seen", "gauge", "Last time a container was seen by the exporter", labels, float(int(now)), now)
    if sample.cpu_seconds > 0:
        add("container_cpu_usage_seconds_total", "counter", "Cumulative cpu time consumed in seconds.",
            labels | {"cpu": "total"}, sample.cpu_seconds, taken)
    add("container_memory_usage_bytes", "gauge",
        "Current memory usage in bytes, including all memory regardless of when it was accessed",
        labels, sample.memory_usage, taken)
    add("container_memory_working_set_bytes", "gauge", "Current working set in bytes.", labels,
        sample.working_set, taken)
    for interface, counters in sample.networks.items():
        for suffix, key, what in NETWORK:
            add(f"container_network_{suffix}_total", "counter", f"Cumulative count of {what}",
                labels | {"interface": interface}, counters.get(key, 0.0), taken)


def render(snapshot: Snapshot, root: Sample | None, machine: Machine, machine_read: float, options: LabelOptions,
           now: float) -> str:
    families = _Families()
    families.add("cadvisor_version_info", "gauge", "A metric with a constant '1' value labeled by kernel version, "
                 "OS version, docker version, cadvisor version & cadvisor revision.",
                 {"kernelVersion": machine.kernel, "osVersion": machine.os_version,
                  "dockerVersion": snapshot.docker_version, "cadvisorVersion": VERSION,
                  "cadvisorRevision": REVISION}, 1)
    ids = {"machine_id": machine.machine_id, "system_uuid": machine.system_uuid, "boot_id": machine.boot_id}
    families.add("machine_cpu_cores", "gauge", "Number of logical CPU cores.", ids, machine.cores, machine_read)
    families.add("machine_memory_bytes", "gauge", "Amount of memory installed on the machine.", ids,
                 machine.memory_bytes, machine_read)
    families.add("machine_scrape_error", "gauge", "1 if there was an error while getting machine metrics, "
                 "0 otherwise.", {}, 0)
    families.add("container_scrape_error", "gauge", "1 if there was an error while getting container metrics, "
                 "0 otherwise", {}, 1 if snapshot.error else 0)
    samples = ([root] if root else []) + snapshot.containers
    per_sample = [container_labels(s, options) for s in samples]
    names: dict[str, str] = {}
    for labels in per_sample:
        for key in labels:
            names.setdefault(INVALID_LABEL_CHARS.sub("_", key), key)
    for sample, labels in zip(samples, per_sample, strict=True):
        padded = {clean: labels.get(raw, "") for clean, raw in names.items()}
        _container(families, sample, padded, snapshot.taken, now)
    return families.text()
