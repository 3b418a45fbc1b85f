"""Who can connect to the platform, proven by connecting from every source at once.

`PhaseProbes` plans every probe the specs need (each published TCP port of every host, plus the ports that must
answer nowhere and SSH), and on first use runs them all in one concurrent sweep per source
(`homelab.transport.probes.Reachability.sweep`): a whole phase costs about one probe timeout. A `wan` source probes
the homelab's `public_address`, as the internet sees it. `verdict` compares an outcome with the policy and,
when they disagree, says why: ufw's own view, the router, or a published Docker port bypassing ufw.

Longer than 300 lines because `PhaseProbes` is the run's one store of what every source reached: it plans, sweeps
once and caches the port probes, the names asked through NPM, the DNS queries and ufw's views that the specs and
`verdict` read, so that a phase costs about one probe timeout.
"""

from __future__ import annotations

import contextlib
import json
import threading
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from ipaddress import IPv4Address
from typing import Any

import pytest

from homelab.checks import problem
from homelab.checks.dns import query_command
from homelab.checks.exposure import NameAsk, Surface, attack_ports, surfaces
from homelab.checks.exposure_matrix import MATRIX, PUBLIC, Cell
from homelab.checks.ufw import UFW_STATUS, UfwStatus, read_status
from homelab.model.inventory import STACK_PHASES, Host, Inventory, Vantage
from homelab.model.policy import Source, exposure_of, may_connect, published, sources
from homelab.transport import httpprobe
from homelab.transport.probes import Outcome, Probe, Reachability, run_module
from homelab.transport.ssh import Reachable, SSHError, SSHPool, as_root

# Portainer's plain HTTP and the Docker API (plain and TLS): open to no one; the agent port 9001 too, on every
# host that does not publish it (an Edge agent only dials out).
NOWHERE_PORTS = (9000, 2375, 2376, 9001)


def rerun(host: Host) -> str:
    """The bootstrap command that sets `host` up (the first phase of its stacks)."""
    phase = min((STACK_PHASES[s] for s in host.stacks), default=1)
    return f"re-run `python -m bootstrap phase{phase}`"


def docker_user_fix(host: Host) -> str:
    return (f"a published Docker port bypasses ufw; add DOCKER-USER rules on {host.name} ({rerun(host)}: the "
            "HOMELAB-DOCKER chain admits the inventory's networks for each published port and drops the rest)")


class PhaseProbes:
    """The probes of one phase, swept once per run from every source, and judged against the policy."""

    def __init__(self, inventory: Inventory, pool: SSHPool, plain: bool = False) -> None:
        self.inventory = inventory
        self.pool = pool
        self.plain = plain  # the benchmark's baseline: no sweep, each probe asked on its own when a spec needs it
        self.hosts = list(inventory.hosts.values())
        self.probes = Reachability(pool, inventory.settings.probe_timeout)
        self._swept = False
        self._lock = threading.Lock()
        self._ufw: dict[str, UfwStatus] = {}
        self._dns: dict[str, str] = {}  # source -> the far side's answer to a recursive query (query_command)
        self._names: dict[str, dict[str, dict[str, Any]]] = {}  # source -> NameAsk.key -> httpprobe answer
        self._name_errors: dict[str, str] = {}  # source -> why its name requests could not be made

    def prefetch(self) -> None:
        """Sweep now (the plugin calls this in the background as the run starts, so the probes' timeouts pass
        while other specs run). Best effort: whatever fails here, a spec asking for it redoes and reports."""
        with contextlib.suppress(Exception):  # the spec that needs the result meets the error itself
            self._sweep(sources(self.inventory))

    def target(self, source: Source) -> Host | Vantage | None:
        """The machine to SSH into to probe from `source` (None: this machine)."""
        return self.inventory.hosts.get(source.name) or self.inventory.vantages.get(source.name)

    def address(self, source: Source, host: Host) -> str:
        """Where `source` reaches `host`: from the internet, the homelab's public address."""
        if source.kind == "wan" and self.inventory.public_address is not None:
            return str(self.inventory.public_address)
        return str(host.address)

    def _ports(self, host: Host) -> list[int]:
        published = {p.port for s in self.inventory.services.values() if host in self.inventory.hosts_of(s)
                     for p in s.ports if p.protocol == "tcp"}
        return sorted(published | set(NOWHERE_PORTS) | {host.ssh.port})

    def attack_probes(self, source: Source) -> list[Probe]:
        """The attacker's sweep from `source` (the runner and vantages only): every attack port on each of its
        surfaces' addresses."""
        if source.origin not in ("runner", "vantage"):
            return []
        ports = attack_ports(self.inventory)
        return [Probe(self.surface_address(s), p) for s in surfaces(self.inventory, [source]) for p in ports]

    def surface_address(self, surface: Surface) -> str:
        if surface.host is None:
            return str(self.inventory.public_address)
        return self.address(surface.source, surface.host)

    def name_asks(self, source: Source) -> list[NameAsk]:
        """Every name asked through the NPM listener `source` reaches (from the internet, the public address):
        HTTPS and HTTP, and, where the homelab has a public name, each other name under that name's SNI."""
        if source.origin not in ("runner", "vantage"):
            return []
        npm = self.inventory.services.get("npm")
        if npm is None or not self.inventory.hosts_of(npm):
            return []
        listener = self.address(source, self.inventory.hosts_of(npm)[0])
        names = sorted({f for s, h in self.inventory.instances() if (f := s.fqdn_for(h))})
        public = sorted({f for s, h in self.inventory.instances() if s.exposure == "public" and (f := s.fqdn_for(h))})
        asks = [NameAsk(n, listener, scheme) for n in [*names, self.unknown_name] for scheme in ("https", "http")]
        asks += [NameAsk(n, listener, "https", sni=public[0]) for n in names if public and n != public[0]]
        return asks

    @property
    def unknown_name(self) -> str:
        """A name in the homelab's domain that NPM serves no proxy host for: its default site must answer."""
        return f"no-such-name.{self.inventory.domain}"

    def _http(self, target: Reachable | None, requests: list[dict[str, Any]]) -> list[dict[str, Any]]:
        """`homelab.transport.httpprobe` from `target`: in this process for this machine, else `python3 -c` by SSH."""
        timeout = self.inventory.settings.probe_timeout * 2
        if target is None:
            return httpprobe.ask_all(requests, timeout)
        return run_module(self.pool, target, httpprobe, [f"{timeout:g}", json.dumps(requests)], timeout * 4 + 10)

    def _ask_names(self, source: Source, target: Reachable | None) -> None:
        asks = self.name_asks(source)
        if not asks:
            return
        try:
            answers = self._http(target, [a.request() for a in asks])
        except Exception as exc:  # the spec reads this as "could not observe"
            self._name_errors[source.name] = str(exc) or type(exc).__name__
            return
        self._names[source.name] = {str(a.get("key")): a for a in answers}

    def name_answer(self, source: Source, ask: NameAsk, reach: Callable[[Any], Any]) -> dict[str, Any] | None:
        """What `source` got for `ask` (None: nothing came back; the reason is in `name_error`)."""
        target = self.target(source)
        if target is not None:
            reach(target)
        self._sweep(sources(self.inventory))
        if source.name not in self._names and source.name not in self._name_errors:
            self._ask_names(source, target)
        return self._names.get(source.name, {}).get(ask.key)

    def name_error(self, source: Source) -> str:
        return self._name_errors.get(source.name, "the probe printed no answer for this request")

    def _sweep(self, sources: list[Source]) -> None:
        with self._lock:
            if self._swept or self.plain:
                return
            self._swept = True
            targets = [t for t in map(self.target, sources) if t is not None]
            self.pool.warm(targets)  # type: ignore[arg-type]  # hosts and vantages are both Reachable
            plan: dict[str, tuple[Reachable | None, list[Probe]]] = {}
            for source in sources:
                target = self.target(source)
                if target is not None and self.pool.failure(target) is not None:
                    continue  # the spec meets the host-down policy through `reach`
                probes = [Probe(self.address(source, h), p) for h in self.hosts for p in self._ports(h)]
                plan[source.name] = (target, probes + self.attack_probes(source))
            by_name = {s.name: s for s in sources}
            asked = {name: target for name, (target, _) in plan.items() if target is not None and self._dns_server()}
            with ThreadPoolExecutor(max_workers=max(1, len(asked) + len(plan))) as pool:  # beside the sweep
                answers = {name: pool.submit(self.pool.run, target, self._query(by_name[name]))
                           for name, target in asked.items()}
                for name, (origin, _) in plan.items():
                    pool.submit(self._ask_names, by_name[name], origin)
                self.probes.sweep(plan)
            for name, answer in answers.items():
                if answer.exception() is None:
                    self._dns[name] = answer.result().stdout

    def surface_outcomes(self, surface: Surface, reach: Callable[[Any], Any]) -> dict[int, Outcome]:
        """Every attack port's outcome on `surface`, from its source (swept now if the background sweep could
        not; an error here is the spec's "could not observe")."""
        target = self.target(surface.source)
        if target is not None:
            reach(target)
        if surface.host is not None:
            reach(surface.host)  # a host that is down: its specs skip or fail once, as the host-down policy says
        self._sweep(sources(self.inventory))
        address = self.surface_address(surface)
        probes = [Probe(address, p) for p in attack_ports(self.inventory)]
        missing = [p for p in probes if not self.probes.cached(surface.source.name, p)]
        if missing:
            self.probes.sweep({surface.source.name: (target, missing)})
        return {p.port: self.probes.outcome(surface.source.name, target, p) for p in probes}

    def identify(self, surface: Surface, ports: list[int]) -> dict[int, dict[str, Any]]:
        """What answers on each of `ports` (banner, HTTP server, Docker API), asked from the surface's source."""
        if not ports:
            return {}
        address = self.surface_address(surface)
        requests = [{"key": str(p), "address": address, "port": p, "listen": True, "path": "/_ping"} for p in ports]
        try:
            answers = self._http(self.target(surface.source), requests)
        except Exception as exc:  # the finding stands; only its description is missing
            return {p: {"error": f"not identified: {exc}"} for p in ports}
        return {int(str(a.get("key"))): a for a in answers}

    def outcome(self, source: Source, host: Host, port: int, reach: Callable[[Any], Any]) -> Outcome:
        """How `port` on `host` answers from `source` (SSH sources go through `reach`: host-down policy)."""
        target = self.target(source)
        if target is not None:
            reach(target)
        reach(host)  # a host that is down: its specs skip or fail once, as the host-down policy says
        self._sweep(sources(self.inventory))
        probe = Probe(self.address(source, host), port)
        try:
            return self.probes.outcome(source.name, target, probe)
        except (RuntimeError, SSHError) as exc:  # nothing came back: no verdict either way
            pytest.fail(f"could not observe: {exc} ({probe} from {source.name})", pytrace=False)

    def _dns_server(self) -> Host | None:
        service = self.inventory.services.get("technitium")
        return self.inventory.hosts_of(service)[0] if service and self.inventory.hosts_of(service) else None

    def dns_server_address(self, source: Source) -> str:
        """Where `source` sends DNS queries: Technitium's host (from the internet, the public address)."""
        server = self._dns_server()
        assert server is not None, "the inventory has no technitium service"
        return self.address(source, server)

    def _query(self, source: Source) -> str:
        return query_command(self.dns_server_address(source), timeout=self.inventory.settings.probe_timeout)

    def recursive_query(self, source: Source, reach: Callable[[Any], Any]) -> str:
        """What `source` hears back for a recursive query of a name outside the homelab's zones (the output of
        `query_command`), asked in the sweep beside the probes."""
        target = self.target(source)
        assert target is not None, f"{source.name}: a DNS query needs a machine to send it from"
        reach(target)
        self._sweep(sources(self.inventory))
        if source.name not in self._dns:
            self._dns[source.name] = self.pool.run(target, self._query(source)).stdout
        return self._dns[source.name]

    def ufw(self, host: Host) -> UfwStatus:
        """ufw's own view on `host`, read once; `UfwUnreadable` when it printed no status (never "inactive")."""
        if host.name not in self._ufw:
            result = self.pool.run(host, as_root(host.ssh.user, UFW_STATUS))
            self._ufw[host.name] = read_status(result.exit_status, result.stdout, result.stderr)
        return self._ufw[host.name]

    def verdict(self, source: Source, host: Host, port: int, outcome: Outcome, allowed: bool | None = None,
                what: str = "") -> str | None:
        """None when `outcome` is what the policy wants; else a message that says why they disagree."""
        if allowed is None:
            allowed = may_connect(self.inventory, source, host, port)
        if outcome.answers == allowed:
            return None
        exposure = exposure_of(self.inventory, host, port) or "not published: no one"
        where = (f"{self.address(source, host)}:{port}/tcp ({what or 'port'} on {host.name}, exposure {exposure}) "
                 f"from {source.name} ({source.address or 'this machine'}, {source.kind} network)")
        if allowed:
            return problem(expected="it answers", found=f"{outcome.value} (no answer)" if outcome is Outcome.FILTERED
                           else f"{outcome.value} (connection refused)", where=where,
                           fix="start the container (docker compose up -d), and let the firewall admit this network")
        return problem(expected="no answer (refused or filtered)", found="it answers", where=where,
                       fix=self._why_open(source, host, port))

    def _why_open(self, source: Source, host: Host, port: int) -> str:
        if source.address == host.address:
            return f"something listens on {port} on {host.name} itself: stop it, or bind it to another address"
        if source.kind == "wan":
            return (f"the router forwards {self.address(source, host)}:{port} though the port is not public: "
                    "remove that port forward (DNAT); only ports with exposure public may be forwarded")
        if host.platform == "unraid" and not _docker_port(self.inventory, host, port):
            return unraid_input_fix(host)
        if host.platform == "unraid":  # no ufw there: DOCKER-USER is the only filter for published ports
            return (f"Unraid has no ufw: the HOMELAB-DOCKER chain (jumped to from DOCKER-USER) on {host.name} must "
                    f"admit only the networks of this port's exposure; {rerun(host)}, which restores the chain and "
                    "persists it in /boot/config/go. Look for a rule added by hand: `iptables -S HOMELAB-DOCKER`")
        try:
            status = self.ufw(host)
        except Exception as exc:  # the explanation must not hide the finding
            return f"close it to this network (ufw state unknown: {exc})"
        if not status.active:
            return (f"ufw is inactive on {host.name}: enable it with default deny incoming (`sudo ufw enable`); "
                    f"a port Docker publishes also needs DOCKER-USER rules, as ufw never sees it")
        address = source.address or IPv4Address(str(self.inventory.networks[
            self.inventory.settings.runner_network].cidr.network_address + 1))
        if status.admits(port, "tcp", address):
            return f"ufw on {host.name} allows {port}/tcp from {address}: delete that rule (`sudo ufw status numbered`)"
        return f"ufw denies {port}, yet it answers from {source.name}: {docker_user_fix(host)}"


def _docker_port(inventory: Inventory, host: Host, port: int) -> bool:
    return any(p.port == port for _, p in published(inventory, host))


def unraid_input_fix(host: Host) -> str:
    return (f"Unraid has no ufw: the HOMELAB-INPUT chain (jumped to first from INPUT) on {host.name} admits SSH and "
            f"the host's daemons from their exposure's networks only; {rerun(host)}, which restores it and persists "
            "it in /boot/config/go. Look for a rule added by hand: `iptables -S INPUT`")


def firewall_fix(inventory: Inventory, host: Host, port: int) -> str:
    """How to close a planned port of `host` to a network its exposure does not admit."""
    if host.platform == "unraid" and not _docker_port(inventory, host, port):
        return unraid_input_fix(host)
    if not _docker_port(inventory, host, port):
        return f"ufw on {host.name} must admit {port}/tcp from the exposure's networks only ({rerun(host)})"
    return docker_user_fix(host)


def service_host(inventory: Inventory, service: str) -> Host:
    """The (phase 1: only) host that runs `service`."""
    return inventory.hosts_of(inventory.services[service])[0]


def expect_reach(probes: PhaseProbes, reach: Callable[[Any], Any], source: Source, host: Host, port: int,
                 what: str, allowed: bool | None = None) -> None:
    """Fail with the verdict when `port` on `host` answers from `source` other than the policy (or `allowed`) says."""
    __tracebackhide__ = True
    outcome = probes.outcome(source, host, port, reach)
    message = probes.verdict(source, host, port, outcome, allowed, what)
    wanted = may_connect(probes.inventory, source, host, port) if allowed is None else allowed
    MATRIX.record(Cell(PUBLIC if source.kind == "wan" else host.name, f"{what} {port}/tcp", source.name,
                       "open" if wanted else "closed", outcome.value, message is None))
    if message:
        pytest.fail(message, pytrace=False)
