"""The inventory loader: the example loads and its views are right; every malformed inventory is refused in one line."""

from __future__ import annotations

import copy
import random
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
import yaml

from homelab.model.inventory import Inventory
from homelab.model.inventory_loader import InventoryError, load_inventory
from homelab.model.paths import REPO

EXAMPLE = REPO / "inventory.yaml"
EXAMPLE_TEXT = EXAMPLE.read_text(encoding="utf-8")
EXAMPLE_DATA: dict[str, Any] = yaml.safe_load(EXAMPLE_TEXT)

Edit = Callable[[dict[str, Any]], None]


# -- building malformed inventories ----------------------------------------------------------------------------
def _parent(data: Any, dotted: str) -> tuple[Any, Any]:
    *parents, last = [int(p) if p.isdigit() else p for p in dotted.split(".")]
    for part in parents:
        data = data[part]
    return data, last


def put(dotted: str, value: Any) -> Edit:
    """Set the value at a dotted path (list indexes as numbers)."""
    def edit(data: dict[str, Any]) -> None:
        parent, key = _parent(data, dotted)
        parent[key] = value
    return edit


def drop(dotted: str) -> Edit:
    def edit(data: dict[str, Any]) -> None:
        parent, key = _parent(data, dotted)
        del parent[key]
    return edit


def rename(dotted: str, new: Any) -> Edit:
    """Rename a key in place, keeping the order of its siblings."""
    def edit(data: dict[str, Any]) -> None:
        parent, key = _parent(data, dotted)
        items = list(parent.items())
        parent.clear()
        parent.update((new if k == key else k, v) for k, v in items)
    return edit


def both(*edits: Edit) -> Edit:
    def edit(data: dict[str, Any]) -> None:
        for one in edits:
            one(data)
    return edit


def dump(data: Any) -> str:
    return yaml.safe_dump(data, sort_keys=False, default_flow_style=False, allow_unicode=True, width=1000)


def patched(old: str, new: str) -> str:
    """The example's text with one exact snippet replaced (it must occur exactly once)."""
    assert EXAMPLE_TEXT.count(old) == 1, f"{old!r} is not unique in inventory.yaml"
    return EXAMPLE_TEXT.replace(old, new)


@dataclass(frozen=True)
class Case:
    """A malformed inventory and the message it must be refused with.

    `source` is raw YAML (str or bytes) or an edit applied to a deep copy of the example's data. `message` is the
    message after `FILE:LINE: `. `at` locates the line: a number, or substrings found one after another in the text
    (the line of the last); None means the message carries no line.
    """

    id: str
    source: str | bytes | Edit
    message: str
    at: int | tuple[str, ...] | None = None

    def text(self) -> str | bytes:
        if isinstance(self.source, (str, bytes)):
            return self.source
        data = copy.deepcopy(EXAMPLE_DATA)
        self.source(data)
        return dump(data)


def line_of(text: str, anchors: tuple[str, ...]) -> int:
    """The line found by looking for each anchor at the start of a (left-stripped) line after the previous one."""
    lines, index = text.splitlines(), -1
    for anchor in anchors:
        index = next(i for i in range(index + 1, len(lines)) if lines[i].lstrip().startswith(anchor))
    return index + 1


def example_line(*anchors: str) -> int:
    return line_of(EXAMPLE_TEXT, anchors)


_DUPLICATE = "YAML would silently keep only the last one; expected each key once (remove or rename one)"
_NETWORKS = ", ".join(f"{name} {net['cidr']}" for name, net in EXAMPLE_DATA["networks"].items())
_TOP = "expected a mapping with name, domain, networks, hosts and services"
_HOST_KEYS = "address, hostname, platform, role, os, availability, ssh, portainer, gpu, stacks"
_SERVICE_KEYS = "stack, ports, exposure, fqdn, upstream, docker_socket, hosts"
_STACKS = "platform, agent, edge-agent, gpu-worker, monitoring, exporters"
_HOST_NAMES = "platform, unraid, pve-docker-1, pve-docker-2, gaming-pc-1, gaming-pc-2"

CASES = [
    # -- the file itself ------------------------------------------------------------------------------------
    Case("empty-file", "", f"(top level): the file is empty or only comments; {_TOP}"),
    Case("only-comments", "# nothing yet\n\n# still nothing\n",
         f"(top level): the file is empty or only comments; {_TOP}"),
    Case("top-level-list", "- name: homelab\n- domain: home.example.com\n", f"(top level): is a list; {_TOP}", 1),
    Case("top-level-scalar", "# hello\nhomelab\n", f"(top level): is a string ('homelab'); {_TOP}", 2),
    Case("not-utf8", EXAMPLE_TEXT.replace("homelab's", "homelab\xe9s").encode("latin-1"),
         "byte 0xe9 is not UTF-8; expected a UTF-8 text file (re-save it as UTF-8)", ("# The homelab\xe9s",)),
    Case("control-character", patched("name: homelab", "name: home\x07lab"),
         "name: character U+0007 is not allowed in YAML; expected printable text (remove it, or write it as an escape "
         "in a double-quoted string)", ("name: home",)),
    # -- YAML syntax ----------------------------------------------------------------------------------------
    Case("bad-indentation", patched("    address: 198.51.100.20\n", "    address: 198.51.100.20\n   role: agent\n"),
         "hosts: YAML syntax error: expected <block end>, but found '<block mapping start>' (while parsing a block "
         f"mapping from line {example_line('hosts:', 'platform:')}); expected keys of one mapping indented by the "
         "same number of spaces", ("unraid:", "role: agent")),
    Case("unclosed-bracket", patched("[platform, monitoring, exporters]", "[platform, monitoring, exporters"),
         "hosts.platform.stacks: YAML syntax error: expected ',' or ']', but got ':' (while parsing a flow sequence "
         f"from line {example_line('stacks: [platform, monitoring')}); expected every '[' closed by a ']' and items "
         "separated by ','", ("stacks: [platform, monitoring", "unraid:")),
    Case("tab-indentation", patched("    role: platform\n", "\trole: platform\n"),
         "hosts.platform: YAML syntax error: found character '\\t' that cannot start any token; expected spaces for "
         "indentation (YAML does not allow tabs)", ("role: platform",)),
    Case("colon-in-value", patched("name: homelab", "name: home: lab"),
         "(top level): YAML syntax error: mapping values are not allowed here; expected one `key: value` per line; "
         "quote a value that contains ': '", ("name: home",)),
    Case("unclosed-quote", patched("GRAFANA_ADMIN_PASSWORD: Grafana", 'GRAFANA_ADMIN_PASSWORD: "Grafana'),
         "secrets.GRAFANA_ADMIN_PASSWORD: YAML syntax error: the file ends while still scanning a quoted scalar that "
         "starts here; expected every quoted string closed by its quote", ("GRAFANA_ADMIN_PASSWORD",)),
    Case("two-documents", EXAMPLE_TEXT + "---\nname: other\n",
         "(top level): YAML syntax error: a second YAML document starts here; expected one YAML document (remove the "
         "`---` separator)", ("---",)),
    Case("undefined-alias", patched("name: homelab", "name: *homelab"),
         "name: YAML syntax error: found undefined alias 'homelab'; expected an anchor (&name) defined, once, before "
         "its alias (*name)", ("name: *homelab",)),
    Case("bad-date", patched("name: homelab", "name: 2024-02-30"),
         "name: '2024-02-30' is not a valid !!timestamp (day is out of range for month); expected a valid "
         "!!timestamp, or quotes around it to keep it as text", ("name: 2024",)),
    Case("key-is-a-list", "? [a, b]\n: 1\n",
         "(top level): a key is a list or mapping; expected a plain name", 1),
    # -- duplicate keys -------------------------------------------------------------------------------------
    Case("duplicate-top-level-key", EXAMPLE_TEXT + "domain: other.example.com\n",
         f"domain: duplicate key (first on line {example_line('domain:')}); {_DUPLICATE}", ("domain: other",)),
    Case("duplicate-host-key", patched("    address: 198.51.100.20\n",
                                       "    address: 198.51.100.20\n    address: 198.51.100.23\n"),
         f"hosts.unraid.address: duplicate key (first on line {example_line('unraid:', 'address:')}); {_DUPLICATE}",
         ("address: 198.51.100.23",)),
    Case("duplicate-service-key", patched("  portainer:\n    stack: platform\n",
                                          "  portainer:\n    stack: platform\n    stack: agent\n"),
         f"services.portainer.stack: duplicate key (first on line {example_line('services:', 'portainer:', 'stack:')}"
         f"); {_DUPLICATE}", ("stack: agent",)),
    Case("duplicate-host", patched("  pve-docker-2:\n", "  pve-docker-1:\n"),
         f"hosts.pve-docker-1: duplicate key (first on line {example_line('pve-docker-1:')}); {_DUPLICATE}",
         ("pve-docker-1:", "pve-docker-1:")),
    # -- unknown keys ---------------------------------------------------------------------------------------
    Case("unknown-top-level-key", put("service", {}),
         "service: unknown key; expected one of name, domain, public_address, router, settings, git, tls, networks, "
         "hosts, services, vantages, secrets", ("service:",)),
    Case("tls-unknown-issuer", put("tls.issuer", "self-signed"),
         "tls.issuer: is 'self-signed'; expected one of letsencrypt, ca", ("tls:", "issuer:")),
    Case("tls-ca-without-key", put("tls", {"issuer": "ca", "ca_cert": "ca.pem"}),
         "tls: issuer ca needs `ca_cert` and `ca_key`: the CA that signs NPM's certificates", ("tls:",)),
    Case("unknown-host-key", rename("hosts.unraid.address", "adress"),
         "hosts.unraid.adress: unknown key; expected one of address, hostname, platform, role, os, availability, ssh, "
         "portainer, gpu, stacks, daemons, extra_containers", ("unraid:", "adress")),
    Case("unknown-service-key", put("services.npm.port", 8181),
         "services.npm.port: unknown key; expected one of stack, ports, exposure, fqdn, upstream, docker_socket, "
         "hosts, host_access",
         ("port: 8181",)),
    Case("unknown-ssh-key", put("hosts.unraid.ssh.password", "hunter2"),
         "hosts.unraid.ssh.password: unknown key; expected one of user, port, key, host_key", ("unraid:", "password")),
    Case("unknown-settings-key", put("settings.timeout", 3),
         "settings.timeout: unknown key; expected one of connect_timeout, probe_timeout, command_timeout, env_file, "
         "ca_bundle, known_hosts, trust_on_first_use, runner_network, cert_min_days, cert_warn_days, "
         "monitor_interval, image_map",
         ("timeout: 3",)),
    Case("unknown-port-key", put("services.npm.ports.2.proto", "udp"),
         "services.npm.ports.2.proto: unknown key; expected one of port, protocol, exposure", ("npm:", "proto:")),
    # -- wrong types ----------------------------------------------------------------------------------------
    Case("address-is-a-number", put("hosts.unraid.address", 1234),
         "hosts.unraid.address: is an integer (1234); expected an IPv4 address like 198.51.100.10",
         ("unraid:", "address")),
    Case("ports-is-a-mapping", put("services.npm.ports", {"port": 80}),
         "services.npm.ports: is a mapping; expected a list like [{port: 80}, {port: 53, protocol: udp}]",
         ("npm:", "ports:")),
    Case("ports-is-an-empty-mapping", put("services.npm.ports", {}),
         "services.npm.ports: is a mapping; expected a list like [{port: 80}, {port: 53, protocol: udp}]",
         ("npm:", "ports:")),
    Case("port-item-is-a-number", put("services.npm.ports", [80]),
         "services.npm.ports.0: is an integer (80); expected a mapping like {port: 80}", ("npm:", "- 80")),
    Case("port-is-a-string", put("services.npm.ports.2.port", "81"),
         "services.npm.ports.2.port: is a string ('81'); expected a port number from 1 to 65535 (unquoted)",
         ("npm:", "- port: '81'")),
    Case("stacks-is-a-string", put("hosts.unraid.stacks", "agent"),
         "hosts.unraid.stacks: is a string ('agent'); expected a list of stacks from platform, agent, edge-agent, "
         "gpu-worker, monitoring, exporters", ("unraid:", "stacks:")),
    Case("trust-on-first-use-yes", put("settings.trust_on_first_use", "yes"),
         "settings.trust_on_first_use: is a string ('yes'); expected true or false", ("trust_on_first_use",)),
    Case("docker-socket-yes-is-boolean", put("services.cadvisor.docker_socket", True),
         "services.cadvisor.docker_socket: is a boolean (True); expected one of none, ro, rw",
         ("cadvisor:", "docker_socket")),
    Case("hosts-is-a-list", put("hosts", ["platform"]),
         "hosts: is a list; expected a mapping of hosts", ("hosts:",)),
    Case("host-is-a-string", put("hosts.unraid", "198.51.100.20"),
         "hosts.unraid: is a string ('198.51.100.20'); expected a mapping with address, platform, role, os and ssh",
         ("unraid:",)),
    Case("host-is-empty", put("hosts.unraid", None),
         "hosts.unraid: is empty; expected a mapping with address, platform, role, os and ssh", ("unraid:",)),
    Case("ssh-is-a-string", put("hosts.unraid.ssh", "root@unraid"),
         "hosts.unraid.ssh: is a string ('root@unraid'); expected a mapping with user, key and host_key",
         ("unraid:", "ssh:")),
    Case("timeout-is-a-string", put("settings.connect_timeout", "3s"),
         "settings.connect_timeout: is a string ('3s'); expected a number from 0.1 to 120", ("connect_timeout",)),
    Case("cert-days-is-a-fraction", put("settings.cert_min_days", 14.5),
         "settings.cert_min_days: is a number (14.5); expected a whole number from 0 to 3650", ("cert_min_days",)),
    Case("name-is-a-date", patched("name: homelab", "name: 2024-01-01"),
         "name: is a date (2024-01-01); expected a name for the homelab, like homelab", ("name:",)),
    Case("host-name-is-a-number", rename("hosts.unraid", 7),
         "hosts.7: the key 7 is an integer; expected a name (quote it)", ("7:",)),
    Case("secret-without-description", put("secrets.AGENT_SECRET", None),
         "secrets.AGENT_SECRET: is empty; expected a non-empty string", ("AGENT_SECRET",)),
    # -- addresses and networks -----------------------------------------------------------------------------
    Case("bad-ipv4-address", put("hosts.unraid.address", "198.51.100.300"),
         "hosts.unraid.address: '198.51.100.300' is not an IPv4 address; expected one like 198.51.100.10",
         ("unraid:", "address")),
    Case("address-with-prefix", put("hosts.unraid.address", "198.51.100.20/24"),
         "hosts.unraid.address: '198.51.100.20/24' is not an IPv4 address; expected one like 198.51.100.10",
         ("unraid:", "address")),
    Case("address-outside-networks", put("hosts.unraid.address", "192.0.2.20"),
         f"hosts.unraid.address: 192.0.2.20 is in no network of the inventory; expected an address in one of: "
         f"{_NETWORKS}", ("unraid:", "address")),
    Case("address-is-network-address", put("hosts.unraid.address", "198.51.100.0"),
         "hosts.unraid.address: 198.51.100.0 is the network or broadcast address of networks.lan (198.51.100.0/24); "
         "expected a usable address inside it", ("unraid:", "address")),
    Case("vantage-outside-networks", put("vantages.wan.address", "192.0.2.1"),
         f"vantages.wan.address: 192.0.2.1 is in no network of the inventory; expected an address in one of: "
         f"{_NETWORKS}",
         ("vantages:", "wan:", "address")),
    Case("network-host-bits", put("networks.lan.cidr", "198.51.100.1/24"),
         "networks.lan.cidr: 198.51.100.1/24 has host bits set; expected the network address 198.51.100.0/24",
         ("lan:", "cidr")),
    Case("network-not-a-cidr", put("networks.lan.cidr", "home"),
         "networks.lan.cidr: 'home' is not a network; expected one like 198.51.100.0/24", ("lan:", "cidr")),
    Case("networks-overlap", put("networks.guest.cidr", "203.0.113.0/25"),
         "networks.guest.cidr: 203.0.113.0/25 overlaps networks.vpn (203.0.113.0/26); expected networks that do not "
         "overlap", ("guest:", "cidr")),
    Case("no-lan-network", put("networks.lan.kind", "guest"),
         "networks: no network has kind lan; expected at least one (the home LAN)", ("networks:",)),
    Case("same-address-twice", put("hosts.pve-docker-2.address", "198.51.100.21"),
         "hosts.pve-docker-2.address: 198.51.100.21 is already the address of hosts.pve-docker-1; expected one "
         "address per machine", ("pve-docker-2:", "address")),
    Case("vantage-same-address-as-host", put("vantages.guest.address", "198.51.100.20"),
         "vantages.guest.address: 198.51.100.20 is already the address of hosts.unraid; expected one address per "
         "machine", ("vantages:", "guest:", "address")),
    Case("bad-public-address", put("public_address", "my.router"),
         "public_address: 'my.router' is not an IPv4 address; expected one like 198.51.100.10", ("public_address",)),
    # -- ports ----------------------------------------------------------------------------------------------
    Case("port-zero", put("services.npm.ports.2.port", 0),
         "services.npm.ports.2.port: is 0; expected a port number from 1 to 65535", ("npm:", "- port: 0")),
    Case("port-70000", put("services.npm.ports.2.port", 70000),
         "services.npm.ports.2.port: is 70000; expected a port number from 1 to 65535", ("npm:", "- port: 70000")),
    Case("upstream-port-out-of-range", put("services.npm.upstream.port", 65536),
         "services.npm.upstream.port: is 65536; expected a port number from 1 to 65535", ("npm:", "upstream", "port")),
    Case("ssh-port-out-of-range", put("hosts.unraid.ssh.port", -22),
         "hosts.unraid.ssh.port: is -22; expected a port number from 1 to 65535", ("unraid:", "port: -22")),
    Case("port-listed-twice", put("services.uptime-kuma.ports", [{"port": 3001}, {"port": 3001}]),
         "services.uptime-kuma.ports.1: port 3001/tcp is listed twice; expected each port once",
         ("uptime-kuma:", "- port: 3001", "- port: 3001")),
    Case("port-used-by-two-services", put("services.grafana.ports.0.port", 3001),
         "services.grafana.ports.0: port 3001/tcp on hosts.platform is published by services.uptime-kuma too; "
         "expected each port of a host used by one service", ("grafana:", "- port: 3001")),
    # -- enumerations ---------------------------------------------------------------------------------------
    Case("unknown-platform", put("hosts.unraid.platform", "vmware"),
         "hosts.unraid.platform: is 'vmware'; expected one of proxmox-vm, unraid, wsl2",
         ("unraid:", "platform: vmware")),
    Case("unknown-role", put("hosts.unraid.role", "worker"),
         "hosts.unraid.role: is 'worker'; expected one of platform, agent, edge", ("unraid:", "role:")),
    Case("unknown-availability", put("hosts.unraid.availability", "sometimes"),
         "hosts.unraid.availability: is 'sometimes'; expected one of always-on, on-demand",
         ("unraid:", "availability")),
    Case("unknown-os", put("hosts.unraid.os", "arch"),
         "hosts.unraid.os: is 'arch'; expected one of debian, ubuntu, unraid", ("unraid:", "os:")),
    Case("unknown-exposure", put("services.npm.exposure", "internet"),
         "services.npm.exposure: is 'internet'; expected one of platform, lan, vpn, public",
         ("npm:", "exposure: internet")),
    Case("unknown-port-exposure", put("services.npm.ports.0.exposure", "world"),
         "services.npm.ports.0.exposure: is 'world'; expected one of platform, lan, vpn, public",
         ("npm:", "exposure: world")),
    Case("unknown-protocol", put("services.technitium.ports.1.protocol", "sctp"),
         "services.technitium.ports.1.protocol: is 'sctp'; expected one of tcp, udp",
         ("technitium:", "protocol: sctp")),
    Case("unknown-network-kind", put("networks.guest.kind", "dmz"),
         "networks.guest.kind: is 'dmz'; expected one of lan, vpn, guest, wan", ("guest:", "kind")),
    Case("unknown-docker-socket", put("services.cadvisor.docker_socket", "read"),
         "services.cadvisor.docker_socket: is 'read'; expected one of none, ro, rw", ("cadvisor:", "docker_socket")),
    Case("unknown-gpu-vendor", put("hosts.gaming-pc-1.gpu.vendor", "amd"),
         "hosts.gaming-pc-1.gpu.vendor: is 'amd'; expected one of nvidia", ("gaming-pc-1:", "vendor")),
    Case("unknown-upstream-scheme", put("services.npm.upstream.scheme", "ftp"),
         "services.npm.upstream.scheme: is 'ftp'; expected one of http, https", ("npm:", "scheme")),
    Case("unknown-stack-in-host", put("hosts.unraid.stacks", ["agent", "media"]),
         "hosts.unraid.stacks.1: unknown stack 'media'; expected one of platform, agent, edge-agent, gpu-worker, "
         "monitoring, exporters", ("unraid:", "- media")),
    Case("unknown-stack-in-service", put("services.npm.stack", "proxy"),
         "services.npm.stack: is 'proxy'; expected one of platform, agent, edge-agent, gpu-worker, monitoring, "
         "exporters", ("npm:", "stack:")),
    Case("stack-listed-twice", put("hosts.unraid.stacks", ["agent", "agent"]),
         "hosts.unraid.stacks.1: 'agent' is listed twice; expected each once", ("unraid:", "- agent", "- agent")),
    # -- references between sections -----------------------------------------------------------------------
    Case("stack-on-no-host", both(put("hosts.gaming-pc-1.stacks", ["edge-agent"]),
                                  put("hosts.gaming-pc-2.stacks", ["edge-agent"])),
         "services.ollama.stack: no host lists stack 'gpu-worker'; expected it in some host's `stacks`",
         ("ollama:", "stack:")),
    Case("service-on-unknown-host", put("services.ollama.hosts", ["gaming-pc-3"]),
         f"services.ollama.hosts.0: unknown host 'gaming-pc-3'; expected one of {', '.join(EXAMPLE_DATA['hosts'])}",
         ("ollama:", "- gaming-pc-3")),
    Case("service-on-host-without-stack", put("services.ollama.hosts", ["unraid"]),
         "services.ollama.hosts.0: host 'unraid' does not list stack 'gpu-worker'; expected it in "
         "hosts.unraid.stacks, or another host", ("ollama:", "- unraid")),
    Case("service-hosts-empty", put("services.ollama.hosts", []),
         "services.ollama.hosts: is an empty list; expected a list of host names, or leave the key out",
         ("ollama:", "hosts:")),
    Case("vantage-named-like-host", rename("vantages.guest", "unraid"),
         "vantages.unraid: the name 'unraid' is used by hosts.unraid too; expected a name no host has",
         ("vantages:", "unraid:")),
    Case("hostname-used-twice", put("hosts.unraid.hostname", "platform"),
         "hosts.unraid.hostname: 'platform' is already the hostname of hosts.platform; expected unique hostnames",
         ("unraid:", "hostname")),
    Case("no-platform-host", put("hosts.platform.role", "agent"),
         "hosts: no host has role platform; expected exactly one (the VM that runs Portainer)", ("hosts:",)),
    Case("two-platform-hosts", put("hosts.unraid.role", "platform"),
         "hosts.unraid.role: is platform, but hosts.platform is the platform host already; expected exactly one host "
         "with role platform", ("unraid:", "role:")),
    # -- required fields ------------------------------------------------------------------------------------
    Case("missing-domain", drop("domain"),
         "domain: is missing; expected a DNS name like home.example.com", 1),
    Case("missing-hosts", drop("hosts"),
         "hosts: is missing; expected a mapping of hosts", 1),
    Case("hosts-empty", put("hosts", {}),
         "hosts: is empty; expected a mapping of hosts with at least one entry", ("hosts:",)),
    Case("missing-host-address", drop("hosts.unraid.address"),
         "hosts.unraid.address: is missing; expected an IPv4 address like 198.51.100.10", ("unraid:",)),
    Case("missing-ssh-user", drop("hosts.unraid.ssh.user"),
         "hosts.unraid.ssh.user: is missing; expected the SSH login name, like admin", ("unraid:", "ssh:")),
    Case("missing-ssh", drop("hosts.unraid.ssh"),
         "hosts.unraid.ssh: is missing; expected a mapping with user, key and host_key", ("unraid:",)),
    Case("missing-service-stack", drop("services.npm.stack"),
         "services.npm.stack: is missing; expected one of platform, agent, edge-agent, gpu-worker, monitoring, "
         "exporters", ("npm:",)),
    Case("missing-network-cidr", drop("networks.lan.cidr"),
         "networks.lan.cidr: is missing; expected a network like 198.51.100.0/24", ("lan:",)),
    Case("missing-git-repository", drop("git.repository"),
         "git.repository: is missing; expected the URL of this repository", ("git:",)),
    # -- names, keys and policy -----------------------------------------------------------------------------
    Case("bad-host-key", put("hosts.unraid.ssh.host_key", "ssh-ed25519 not-base64!"),
         "hosts.unraid.ssh.host_key: the key data is not a base64 ssh-ed25519 key; expected the `ssh-ed25519 AAAA...` "
         "part of a line that ssh-keyscan HOST prints", ("unraid:", "host_key")),
    Case("host-key-type-mismatch", put("hosts.unraid.ssh.host_key", "ssh-rsa " + EXAMPLE_DATA["hosts"]["unraid"][
        "ssh"]["host_key"].split()[1]),
         "hosts.unraid.ssh.host_key: the key data is not a base64 ssh-rsa key; expected the `ssh-rsa AAAA...` part of "
         "a line that ssh-keyscan HOST prints", ("unraid:", "host_key")),
    Case("bad-host-name", rename("hosts.unraid", "Unraid_1"),
         "hosts.Unraid_1: is not a valid name; expected lower-case letters, digits and '-' (like pve-docker-1)",
         ("Unraid_1:",)),
    Case("invalid-domain", put("domain", "Home_Example.com"),
         "domain: 'Home_Example.com' is not a valid DNS name; expected lower-case labels of letters, digits and '-' "
         "separated by dots, like home.example.com", ("domain:",)),
    Case("invalid-fqdn", put("services.grafana.fqdn", "grafana..home.example.com"),
         "services.grafana.fqdn: 'grafana..home.example.com' is not a valid DNS name; expected lower-case labels of "
         "letters, digits and '-' separated by dots, like chat-{host}.home.example.com", ("grafana:", "fqdn")),
    Case("unknown-fqdn-placeholder", put("services.ollama.fqdn", "ollama-{hostname}.home.example.com"),
         "services.ollama.fqdn: 'ollama-{hostname}.home.example.com' has an unknown placeholder; expected only {host} "
         "(the host's name)", ("ollama:", "fqdn")),
    Case("fqdn-without-upstream", drop("services.grafana.upstream"),
         "services.grafana.fqdn: is set but `upstream` is not; expected `upstream: {port: N}`, the port NPM forwards "
         "to", ("grafana:", "fqdn")),
    Case("api-without-upstream", both(drop("services.technitium.fqdn"), drop("services.technitium.upstream")),
         "services.technitium.upstream: is missing, and technitium has 2 TCP ports; expected `upstream: {port: N}`, "
         "the port of its API, which bootstrap and the specs ask", ("technitium:",)),
    Case("api-without-port", both(drop("services.prometheus.fqdn"), drop("services.prometheus.upstream"),
                                  put("services.prometheus.ports", [])),
         "services.prometheus.upstream: is missing, and prometheus has 0 TCP ports; expected `upstream: {port: N}`, "
         "the port of its API, which bootstrap and the specs ask", ("prometheus:",)),
    Case("fqdn-used-twice", put("services.grafana.fqdn", "status.home.example.com"),
         "services.grafana.fqdn: 'status.home.example.com' is already served by services.uptime-kuma on platform; "
         "expected one name per service and host (put {host} in it, or narrow the service with `hosts:`)",
         ("grafana:", "fqdn")),
    Case("fqdn-same-on-two-hosts", put("services.ollama.fqdn", "ollama.home.example.com"),
         "services.ollama.fqdn: 'ollama.home.example.com' is already served by services.ollama on gaming-pc-1; "
         "expected one name per service and host (put {host} in it, or narrow the service with `hosts:`)",
         ("ollama:", "fqdn")),
    Case("public-port-without-public-address", both(drop("public_address"), put("services.npm.ports.0.exposure",
                                                                               "public")),
         "services.npm.ports.0: port 80/tcp is public but `public_address` is not set; expected the router's WAN "
         "address as top-level `public_address`, or a non-public exposure", ("npm:", "- port: 80")),
    Case("public-name-behind-private-npm", put("services.grafana.exposure", "public"),
         "services.grafana.exposure: is public, but NPM's 443/tcp is not; expected `exposure: public` on "
         "services.npm's 443 port too (its name is served through NPM), or a non-public exposure here",
         ("grafana:", "exposure")),
    Case("daemon-unknown-exposure", put("hosts.unraid.daemons", [{"name": "webui", "port": 80, "exposure": "world"}]),
         "hosts.unraid.daemons.0.exposure: is 'world'; expected one of platform, lan, vpn, public",
         ("unraid:", "exposure: world")),
    Case("host-access-unknown", put("services.cadvisor.host_access", ["root", "kernel"]),
         "services.cadvisor.host_access.1: unknown 'kernel'; expected one of privileged, pid, network, root",
         ("- root", "- kernel")),
    Case("secret-lower-case", rename("secrets.AGENT_SECRET", "agent_secret"),
         "secrets.agent_secret: 'agent_secret' is not an environment variable name; expected UPPER_CASE letters, "
         "digits and _, starting with a letter (like GRAFANA_ADMIN_PASSWORD)", ("agent_secret",)),
    Case("secret-empty-name", rename("secrets.AGENT_SECRET", ""),
         "secrets.'': '' is not an environment variable name; expected UPPER_CASE letters, digits and _, starting "
         "with a letter (like GRAFANA_ADMIN_PASSWORD)", ("? ''",)),
    Case("runner-network-unknown", put("settings.runner_network", "office"),
         f"settings.runner_network: unknown network 'office'; expected one of {', '.join(EXAMPLE_DATA['networks'])}",
         ("runner_network",)),
    Case("connect-timeout-zero", put("settings.connect_timeout", 0),
         "settings.connect_timeout: is 0; expected a number from 0.1 to 120", ("connect_timeout",)),
    Case("command-timeout-too-long", put("settings.command_timeout", 5000),
         "settings.command_timeout: is 5000; expected a number from 1 to 3600", ("command_timeout",)),
    Case("probe-timeout-negative", put("settings.probe_timeout", -1),
         "settings.probe_timeout: is -1; expected a number from 0.1 to 60", ("probe_timeout",)),
    Case("cert-warn-before-min", put("settings.cert_warn_days", 7),
         "settings.cert_warn_days: warns at 7 days but fails at 14; expected cert_warn_days >= cert_min_days",
         ("cert_warn_days",)),
    Case("home-of-unknown-user", put("hosts.unraid.ssh.key", "~nosuchuser-x9/.ssh/id"),
         "hosts.unraid.ssh.key: '~nosuchuser-x9/.ssh/id': ~nosuchuser-x9 names no user with a home directory here; "
         "expected ~/... or an absolute path", ("unraid:", "key:")),
]


def _write(tmp_path: Path, content: str | bytes) -> Path:
    path = tmp_path / "inventory.yaml"
    if isinstance(content, bytes):
        path.write_bytes(content)
    else:
        path.write_text(content, encoding="utf-8")
    return path.resolve()


def refusal(path: Path) -> str:
    """The message `load_inventory` refuses `path` with (failing the test if it accepts it)."""
    __tracebackhide__ = True
    with pytest.raises(InventoryError) as info:
        load_inventory(path)
    return str(info.value)


@pytest.mark.parametrize("case", CASES, ids=[c.id for c in CASES])
def test_malformed_inventory_is_refused_in_one_line(tmp_path: Path, case: Case) -> None:
    """A malformed inventory is refused with one line: the file, the line, the path, what is wrong and expected."""
    content = case.text()
    path = _write(tmp_path, content)
    text = content.decode("latin-1") if isinstance(content, bytes) else content
    line = case.at if isinstance(case.at, int) or case.at is None else line_of(text, case.at)
    where = f"{path}:{line}" if line else f"{path}"
    assert refusal(path) == f"{where}: {case.message}"


def test_case_ids_are_unique() -> None:
    """Each malformed-inventory case has its own id, so a report names exactly one."""
    ids = [c.id for c in CASES]
    assert len(ids) == len(set(ids)), sorted({i for i in ids if ids.count(i) > 1})


def test_missing_file_is_refused(tmp_path: Path) -> None:
    """A path that does not exist is refused naming it, not with FileNotFoundError."""
    path = tmp_path / "nope.yaml"
    assert refusal(path) == f"{path.resolve()}: file not found; expected an inventory file (copy inventory.yaml)"


def test_directory_is_refused(tmp_path: Path) -> None:
    """A directory given as the inventory is refused naming it, not with IsADirectoryError."""
    assert refusal(tmp_path) == f"{tmp_path.resolve()}: is a directory; expected a YAML file"


def test_every_message_is_one_line_and_names_the_file(tmp_path: Path) -> None:
    """No refusal spans lines or omits the file, whatever the case (a newline in a key included)."""
    path = _write(tmp_path, dump({**EXAMPLE_DATA, "new\nline": 1}))
    message = refusal(path)
    assert "\n" not in message
    assert message.startswith(f"{path}:")


# -- random mutations: nothing but InventoryError escapes ---------------------------------------------------------
_VALUES: tuple[Any, ...] = (None, 0, -1, 70000, 1.5, float("nan"), float("inf"), "", " ", "x", "yes", True, [], {},
                            ["a"], ["a", "a"], {"a": 1}, {"": "x"}, [[1]], "198.51.100.10", "198.51.100.0/24",
                            "{host}", "agent", "lan", "~nobody-x9/key", "ssh-ed25519 AAAA", "op://vault/item/field")
_KEYS: tuple[Any, ...] = ("", 7, "a b", "A", "x.y", True)
_TEXT_VALUES = ("2024-02-30", "*nowhere", "!!int x", "[", "{a: 1", '"', "\x07", "\t", "? [a]", "&a b", "0x1F")


def _paths(data: Any, at: tuple[Any, ...] = ()) -> list[tuple[Any, ...]]:
    found = [at] if at else []
    items = data.items() if isinstance(data, dict) else enumerate(data) if isinstance(data, list) else ()
    for key, value in items:
        found += _paths(value, (*at, key))
    return found


def _mutate_data(rng: random.Random) -> tuple[str, str]:
    data = copy.deepcopy(EXAMPLE_DATA)
    for _ in range(rng.randint(1, 3)):
        target = rng.choice(_paths(data))
        parent = data
        for part in target[:-1]:
            parent = parent[part]
        key, action = target[-1], rng.choice(("delete", "replace", "duplicate", "rename"))
        if action == "delete" or (action == "rename" and isinstance(parent, list)):
            del parent[key]
        elif action == "replace":
            parent[key] = copy.deepcopy(rng.choice(_VALUES))
        elif action == "duplicate" and isinstance(parent, list):
            parent.insert(key, copy.deepcopy(parent[key]))
        elif isinstance(parent, dict):
            parent[rng.choice((f"{key}x", *_KEYS))] = parent.pop(key)
    return dump(data), f"data mutation of {target}: {action}"


def _mutate_text(rng: random.Random) -> tuple[str, str]:
    lines = EXAMPLE_TEXT.splitlines(keepends=True)
    index = rng.randrange(len(lines))
    action = rng.choice(("delete", "duplicate", "tab", "truncate", "dedent", "bracket", "value"))
    if action == "delete":
        del lines[index]
    elif action == "duplicate":
        lines.insert(index, lines[index])
    elif action == "tab":
        lines[index] = "\t" + lines[index].lstrip(" ")
    elif action == "truncate":
        lines[index] = lines[index][: rng.randrange(len(lines[index]) + 1)]
    elif action == "dedent":
        lines[index] = lines[index][1:]
    elif action == "bracket":
        lines[index] = lines[index].replace("]", "").replace("}", "")
    else:
        head, colon, _ = lines[index].partition(": ")
        value = rng.choice(_TEXT_VALUES).encode().decode("unicode_escape")
        lines[index] = f"{head}{colon or ': '}{value}\n"
    return "".join(lines), f"text mutation of line {index + 1}: {action}"


def _outcome(tmp_path: Path, text: str) -> str | None:
    """None when the loader accepts or refuses properly; else what went wrong."""
    path = _write(tmp_path, text)
    try:
        load_inventory(path)
    except InventoryError as exc:
        if "\n" in str(exc) or not str(exc).startswith(f"{path}"):
            return f"malformed message {str(exc)!r}"
    except Exception as exc:  # the point of the test: report, do not crash
        return f"{type(exc).__name__}: {exc}"
    return None


def test_random_mutations_raise_only_inventory_error(tmp_path: Path) -> None:
    """200 seeded random edits of the example either load or raise a one-line InventoryError, never anything else."""
    rng = random.Random(20240601)  # noqa: S311 - a reproducible sequence, not a secret
    failures = []
    for _ in range(200):
        text, what = (_mutate_data if rng.random() < 0.6 else _mutate_text)(rng)
        problem = _outcome(tmp_path, text)
        if problem:
            failures.append(f"{what}: {problem}")
    assert not failures, "\n".join(failures)


# -- the example inventory and its views --------------------------------------------------------------------------
@pytest.fixture(scope="module")
def inventory() -> Inventory:
    return load_inventory(EXAMPLE)


def _load(tmp_path: Path, edit: Edit) -> Inventory:
    data = copy.deepcopy(EXAMPLE_DATA)
    edit(data)
    return load_inventory(_write(tmp_path, dump(data)))


def test_example_inventory_loads(inventory: Inventory) -> None:
    """The repository's inventory.yaml is valid and complete."""
    assert inventory.name == "homelab"
    assert inventory.domain == "home.example.com"
    assert list(inventory.hosts) == _HOST_NAMES.split(", ")
    assert inventory.settings.runner_network == "lan"
    assert inventory.settings.env_file == EXAMPLE.parent / ".env"


def test_platform_host_is_the_one_with_role_platform(inventory: Inventory) -> None:
    """The platform host is the only host whose role is platform."""
    assert inventory.platform_host.name == "platform"
    assert str(inventory.platform_host.address) == "198.51.100.10"


@pytest.mark.parametrize(("phase", "expected"), [
    (1, {"portainer@platform", "npm@platform", "technitium@platform", "uptime-kuma@platform"}),
    (2, {"portainer-agent@unraid", "portainer-agent@pve-docker-1", "portainer-agent@pve-docker-2"}),
    (3, {f"{s}@gaming-pc-{n}" for s in ("portainer-edge-agent", "ollama", "open-webui") for n in (1, 2)}),
    (4, {"prometheus@platform", "grafana@platform"}
        | {f"{s}@{h}" for s in ("node-exporter", "cadvisor") for h in _HOST_NAMES.split(", ")}),
])
def test_instances_per_phase(inventory: Inventory, phase: int, expected: set[str]) -> None:
    """Each phase deploys each of its services on every host that lists the service's stack."""
    assert {f"{s.name}@{h.name}" for s, h in inventory.instances(phase)} == expected


def test_instances_without_phase_are_all_phases(inventory: Inventory) -> None:
    """instances() with no phase is the union of the four phases."""
    assert len(list(inventory.instances())) == sum(len(list(inventory.instances(p))) for p in (1, 2, 3, 4)) == 27


def test_hosts_of_is_narrowed_by_service_hosts(tmp_path: Path) -> None:
    """A service's `hosts:` narrows it to those of the hosts listing its stack."""
    inventory = _load(tmp_path, put("services.ollama.hosts", ["gaming-pc-2"]))
    assert [h.name for h in inventory.hosts_of(inventory.services["ollama"])] == ["gaming-pc-2"]
    assert [h.name for h in inventory.hosts_of(inventory.services["open-webui"])] == ["gaming-pc-1", "gaming-pc-2"]


def test_fqdn_for_fills_in_host(inventory: Inventory) -> None:
    """`{host}` in an fqdn becomes the host's name; a plain fqdn is the same everywhere; no fqdn gives None."""
    services, hosts = inventory.services, inventory.hosts
    assert services["ollama"].fqdn_for(hosts["gaming-pc-1"]) == "ollama-gaming-pc-1.home.example.com"
    assert services["portainer"].fqdn_for(hosts["platform"]) == "portainer.home.example.com"
    assert services["node-exporter"].fqdn_for(hosts["unraid"]) is None


def test_port_exposure_defaults_to_the_service_exposure(inventory: Inventory) -> None:
    """A port without its own exposure takes its service's: nothing is public in the shipped inventory, NPM's
    80 and 443 included (the homelab is LAN/VPN only; certificates come by DNS challenge)."""
    assert [(p.port, p.protocol, p.exposure) for p in inventory.services["npm"].ports] == [
        (80, "tcp", "vpn"), (443, "tcp", "vpn"), (81, "tcp", "vpn")]


def test_settings_defaults_follow_the_lan_network(tmp_path: Path) -> None:
    """Without settings, the runner sits on the network of kind lan, whatever its name, and .env is beside the file."""
    inventory = _load(tmp_path, both(drop("settings"), rename("networks.lan", "home")))
    assert inventory.settings.runner_network == "home"
    assert inventory.settings.env_file == tmp_path.resolve() / ".env"


def test_zero_is_kept_not_replaced_by_a_default(tmp_path: Path) -> None:
    """cert_min_days: 0 means zero, not the default 14."""
    assert _load(tmp_path, put("settings.cert_min_days", 0)).settings.cert_min_days == 0
