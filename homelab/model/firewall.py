"""Host firewall rules from the reachability policy (`homelab.model.policy`): pure functions, no host access.

Two layers, one policy:
- **ufw** (INPUT): default deny incoming, allow outgoing; SSH and every port the inventory publishes on the
  host, each from exactly the networks its exposure admits (`public`: from anywhere).
- **DOCKER-USER** (FORWARD): Docker-published ports are DNAT-ed and never reach ufw's INPUT rules, so a chain
  of our own, `HOMELAB-DOCKER`, jumped to from DOCKER-USER, matches the connection's original destination port
  (`-m conntrack --ctorigdstport`) and admits the same networks, drops the rest, and drops DNAT-ed connections
  to ports the inventory does not publish. Traffic that comes in from the host's own Docker bridges counts as
  the host itself (containers reaching published ports on the host's address, and all their outbound traffic).

Both are persisted as one `iptables-restore` block between markers: in `/etc/ufw/after.rules` where ufw runs
(ufw re-applies it on every reload, atomically), or in Unraid's `/boot/config/go`. Unraid has no ufw, so there
the host's own ports (SSH and the inventory's `daemons`) get a chain of their own too, `HOMELAB-INPUT`, jumped
to first from INPUT: each admits its exposure's networks and drops the rest; other ports are left as Unraid
has them (its SMB, NFS... are the operator's to list as daemons). The commands and rules are printed exactly
as `ufw show added` and `iptables -S` print them, so a check compares text with text.
"""

from __future__ import annotations

from dataclasses import dataclass
from ipaddress import IPv4Address, IPv4Network

from homelab.model.inventory import Host, Inventory
from homelab.model.policy import SSH_EXPOSURE, allowed_networks, published

CHAIN = "HOMELAB-DOCKER"
INPUT_CHAIN = "HOMELAB-INPUT"  # Unraid only: the host's own ports (where ufw hosts have ufw)
BEGIN = "# BEGIN homelab firewall: written by bootstrap from inventory.yaml; do not edit"
END = "# END homelab firewall"
UFW_DEFAULTS = ("ufw default deny incoming", "ufw default allow outgoing")
DOCKER_BRIDGES = ("docker0", "br-+")  # the default bridge and every user-defined (compose) network's bridge


class FirewallRefused(Exception):
    """Applying the planned firewall would be unsafe (it would cut off the SSH session applying it)."""


@dataclass(frozen=True)
class Allowance:
    """Who may open `port`/`protocol` on a host: `networks` (None: anyone), and for whom (`label`)."""

    label: str
    port: int
    protocol: str
    networks: tuple[IPv4Network, ...] | None
    docker: bool  # a Docker-published port (needs the DOCKER-USER rules), not the host's own SSH


def allowances(inventory: Inventory, host: Host) -> list[Allowance]:
    """SSH first, then every port the inventory publishes on `host`, ordered by port and protocol."""
    def nets(exposure: str) -> tuple[IPv4Network, ...] | None:
        found = allowed_networks(inventory, exposure)
        return None if found is None else tuple(found)

    ssh = Allowance("ssh", host.ssh.port, "tcp", nets(SSH_EXPOSURE), docker=False)
    ports = [Allowance(service.name, port.port, port.protocol, nets(port.exposure), docker=True)
             for service, port in published(inventory, host)]
    ports += [Allowance(d.name, d.port, d.protocol, nets(d.exposure), docker=False) for d in host.daemons]
    return [ssh, *sorted(ports, key=lambda a: (a.port, a.protocol))]


def _source(network: IPv4Network) -> str:
    return str(network.network_address) if network.prefixlen == 32 else str(network)


def ufw_rules(inventory: Inventory, host: Host) -> list[str]:
    """The host's ufw rules as `ufw show added` prints them (each line is also the command that adds it)."""
    rules = []
    for a in allowances(inventory, host):
        comment = f" comment '{a.label}'"  # labels are service names: [a-z0-9-], nothing to quote
        if a.networks is None:
            rules.append(f"ufw allow {a.port}/{a.protocol}{comment}")
        else:
            rules += [f"ufw allow from {_source(n)} to any port {a.port} proto {a.protocol}{comment}"
                      for n in a.networks]
    return rules


def ufw_commands(inventory: Inventory, host: Host) -> list[str]:
    """Everything that turns a host's ufw into the plan: defaults, rules, enable."""
    return [*UFW_DEFAULTS, *ufw_rules(inventory, host), "ufw --force enable"]


def docker_rules(inventory: Inventory, host: Host) -> list[str]:
    """The rules of the HOMELAB-DOCKER chain, as `iptables -S HOMELAB-DOCKER` prints them (without `-N`)."""
    rules = [f"-A {CHAIN} -m conntrack --ctstate RELATED,ESTABLISHED -j RETURN"]
    rules += [f"-A {CHAIN} -i {bridge} -j RETURN" for bridge in DOCKER_BRIDGES]
    for a in allowances(inventory, host):
        if a.docker:
            rules += _admit(CHAIN, a, f"-p {a.protocol} -m conntrack --ctorigdstport {a.port} --ctdir ORIGINAL")
    rules.append(f"-A {CHAIN} -m conntrack --ctstate DNAT --ctdir ORIGINAL -j DROP")
    return rules


def _admit(chain: str, a: Allowance, match: str) -> list[str]:
    """`a`'s networks RETURN (go on to be accepted), everyone else DROP; anyone RETURNs for a public port."""
    if a.networks is None:
        return [f"-A {chain} {match} -j RETURN"]
    return [*(f"-A {chain} -s {n} {match} -j RETURN" for n in a.networks), f"-A {chain} {match} -j DROP"]


def input_rules(inventory: Inventory, host: Host) -> list[str]:
    """Unraid's HOMELAB-INPUT chain, as `iptables -S` prints it: SSH and each daemon from its networks only."""
    rules = [f"-A {INPUT_CHAIN} -i lo -j RETURN",
             f"-A {INPUT_CHAIN} -m conntrack --ctstate RELATED,ESTABLISHED -j RETURN"]
    for a in allowances(inventory, host):
        if not a.docker:
            rules += _admit(INPUT_CHAIN, a, f"-p {a.protocol} -m {a.protocol} --dport {a.port}")
    return rules


INPUT_JUMP = f"iptables -C INPUT -j {INPUT_CHAIN} 2>/dev/null || iptables -I INPUT 1 -j {INPUT_CHAIN}"


def restore_block(rules: list[str], ufw: bool = True, own_ports: list[str] | None = None) -> str:
    """The rules as one `iptables-restore --noflush` block between markers (declaring a chain flushes it, so
    re-applying replaces the chain's contents atomically). With ufw, containers may also reach the host's own
    ports (they are the host itself: NPM proxying to a service published on the host's address)."""
    lines = [BEGIN, "*filter", ":DOCKER-USER - [0:0]", f":{CHAIN} - [0:0]", f"-A DOCKER-USER -j {CHAIN}", *rules]
    if own_ports is not None:  # INPUT itself is not declared (that would flush it): INPUT_JUMP adds the jump
        lines += [f":{INPUT_CHAIN} - [0:0]", *own_ports]
    if ufw:
        lines += [f"-A ufw-after-input -i {bridge} -j ACCEPT" for bridge in DOCKER_BRIDGES]
    return "\n".join([*lines, "COMMIT", END]) + "\n"


def unraid_block(inventory: Inventory, host: Host) -> str:
    """Unraid's whole block: HOMELAB-DOCKER for published ports, HOMELAB-INPUT for SSH and the daemons."""
    return restore_block(docker_rules(inventory, host), ufw=False, own_ports=input_rules(inventory, host))


def go_snippet(block: str) -> str:
    """For Unraid's /boot/config/go (run at boot, no ufw): the same block, applied by iptables-restore once
    Docker has created its chains. Between the markers, so that re-applying replaces it."""
    body = "\n".join(line for line in block.splitlines() if line not in (BEGIN, END))
    return (f"{BEGIN}\n(for i in $(seq 60); do iptables -S DOCKER-USER >/dev/null 2>&1 && break; sleep 2; done\n"
            f" iptables-restore --noflush <<'HOMELAB_RULES'\n{body}\nHOMELAB_RULES\n"
            + (f" {INPUT_JUMP}\n" if INPUT_CHAIN in body else "") + f") &\n{END}\n")


def with_block(text: str, block: str) -> str:
    """`text` (after.rules, or the go file) with the marked block replaced by `block`, or appended."""
    lines = text.splitlines(keepends=True)
    starts = [i for i, line in enumerate(lines) if line.rstrip("\n") == BEGIN]
    ends = [i for i, line in enumerate(lines) if line.rstrip("\n") == END]
    if starts and ends and ends[0] > starts[0]:
        return "".join(lines[:starts[0]]) + block + "".join(lines[ends[0] + 1:])
    prefix = text if not text or text.endswith("\n") else text + "\n"
    return prefix + block


def ssh_client_address(ssh_client: str) -> IPv4Address | None:
    """The source address in `$SSH_CLIENT` ("ADDRESS PORT LOCALPORT"), or None when it is not IPv4."""
    try:
        return IPv4Address(ssh_client.split()[0])
    except (IndexError, ValueError):
        return None


def assert_ssh_kept(inventory: Inventory, host: Host, ssh_client: str) -> None:
    """Refuse (FirewallRefused) unless the planned rules admit the SSH session applying them."""
    source = ssh_client_address(ssh_client)
    ssh = allowances(inventory, host)[0]
    where = f"{host.name}: enabling the firewall would cut off this SSH session"
    if source is None:
        raise FirewallRefused(f"{where}? cannot tell: $SSH_CLIENT is {ssh_client.strip()!r}; run bootstrap over SSH")
    if ssh.networks is not None and not any(source in n for n in ssh.networks):
        admitted = ", ".join(str(n) for n in ssh.networks)
        raise FirewallRefused(
            f"{where} from {source}: SSH ({SSH_EXPOSURE} exposure) admits only {admitted}. Run bootstrap from a "
            f"machine on those networks (settings.runner_network), or add this machine's network to the inventory")
