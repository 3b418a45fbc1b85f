"""cAdvisor's command line, parsed the way Go's flag package parses it (`-name`, `--name`, `-name=value`,
`-name value`; booleans only as `-name` or `-name=false`; parsing stops at the first non-flag argument).

Every flag of cAdvisor v0.49.1 (and klog's) is accepted; the stand-in acts on the few in USED. Unlike the
real binary, an unknown flag is warned about and ignored instead of ending the process.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from typing import Any

# name -> kind ("bool", "int", "duration" or "string"); the stand-in reads these.
USED = {"port": "int", "listen_ip": "string", "docker_only": "bool", "housekeeping_interval": "duration",
        "docker": "string", "store_container_labels": "bool", "whitelisted_container_labels": "string",
        "prometheus_endpoint": "string", "disable_root_cgroup_stats": "bool", "boot_id_file": "string",
        "machine_id_file": "string", "version": "bool"}
DEFAULTS: dict[str, Any] = {
    "port": 8080, "listen_ip": "", "docker_only": False, "housekeeping_interval": 1.0,
    "docker": "unix:///var/run/docker.sock", "store_container_labels": True, "whitelisted_container_labels": "",
    "prometheus_endpoint": "/metrics", "disable_root_cgroup_stats": False,
    "boot_id_file": "/proc/sys/kernel/random/boot_id", "machine_id_file": "/etc/machine-id,/var/lib/dbus/machine-id",
    "version": False}
_BOOLS = ("allow_dynamic_housekeeping docker-tls enable_load_reader log_cadvisor_usage profiling "
          "storage_driver_es_enable_sniffer storage_driver_kafka_ssl_verify storage_driver_secure logtostderr "
          "alsologtostderr add_dir_header one_output skip_headers skip_log_headers")
_DURATIONS = ("max_housekeeping_interval global_housekeeping_interval storage_duration update_machine_info_interval "
              "resctrl_interval cadvisor_timeout crio_client_timeout mesos_agent_timeout "
              "storage_driver_buffer_duration")
_INTS = "max_procs application_metrics_count_limit test-retry-count v log_file_max_size"
_STRINGS = ("disable_metrics enable_metrics env_metadata_whitelist docker_env_metadata_whitelist "
            "containerd_env_metadata_whitelist raw_cgroup_prefix_whitelist url_base_prefix http_auth_file "
            "http_auth_realm http_digest_file http_digest_realm collector_cert collector_key perf_events_config "
            "docker_root docker-tls-ca docker-tls-cert docker-tls-key containerd containerd-namespace podman "
            "container_hints event_storage_age_limit event_storage_event_limit storage_driver storage_driver_db "
            "storage_driver_host storage_driver_user storage_driver_password storage_driver_table "
            "storage_driver_es_host storage_driver_es_index storage_driver_es_type "
            "storage_driver_influxdb_retention_policy "
            "storage_driver_kafka_broker_list storage_driver_kafka_topic storage_driver_kafka_ssl_ca "
            "storage_driver_kafka_ssl_cert storage_driver_kafka_ssl_key bq_id bq_secret bq_project_id bq_account "
            "bq_credentials_file mesos_agent host ssh-options test-retry-whitelist log_dir log_file stderrthreshold "
            "vmodule log_backtrace_at")
KNOWN = USED | dict.fromkeys(_BOOLS.split(), "bool") | dict.fromkeys(_DURATIONS.split(), "duration") \
    | dict.fromkeys(_INTS.split(), "int") | dict.fromkeys(_STRINGS.split(), "string")
DURATION_PART = re.compile(r"(\d+(?:\.\d*)?|\.\d+)(ns|us|µs|ms|s|m|h)")
UNITS = {"ns": 1e-9, "us": 1e-6, "µs": 1e-6, "ms": 1e-3, "s": 1.0, "m": 60.0, "h": 3600.0}


class FlagError(Exception):
    """What Go's flag package says before exiting with status 2."""


def duration(text: str) -> float:
    """Go's time.ParseDuration, in seconds: "30s", "1m30s", "1.5h", "0"."""
    body = text[1:] if text[:1] in "+-" else text
    if body == "0":
        return 0.0
    parts = DURATION_PART.findall(body)
    if not body or "".join(number + unit for number, unit in parts) != body:
        raise ValueError(f"time: invalid duration {text!r}")
    seconds = sum(float(number) * UNITS[unit] for number, unit in parts)
    return -seconds if text.startswith("-") else seconds


def _convert(name: str, kind: str, text: str) -> Any:
    try:
        if kind == "bool":
            if text.lower() not in {"1", "t", "true", "0", "f", "false"}:
                raise ValueError(text)
            return text.lower() in {"1", "t", "true"}
        if kind == "int":
            return int(text, 0)
        if kind == "duration":
            return duration(text)
    except ValueError as error:
        raise FlagError(f'invalid value "{text}" for flag -{name}: parse error') from error
    return text


def parse(args: list[str], warn: Callable[[str], None]) -> dict[str, Any]:
    values = dict(DEFAULTS)
    queue = list(args)
    while queue:
        arg = queue.pop(0)
        if arg in ("-", "--") or not arg.startswith("-"):
            break  # Go stops at the first non-flag argument
        name, has_value, text = arg.lstrip("-").partition("=")
        kind = KNOWN.get(name)
        if kind is None:
            if not has_value and queue and not queue[0].startswith("-"):
                queue.pop(0)
            warn(f"flag provided but not defined: -{name} (ignored by the stand-in)")
            continue
        if not has_value and kind == "bool":
            text = "true"
        elif not has_value:
            if not queue:
                raise FlagError(f"flag needs an argument: -{name}")
            text = queue.pop(0)
        value = _convert(name, kind, text)
        if name in USED:
            values[name] = value
    return values
