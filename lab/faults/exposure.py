"""The exposure faults: each opens one path in (a proxy host without its access list, a router forward, SSH
open to guests, a stray container, a Docker-socket relay, a privileged container mounting `/`) and names the
specs that must catch it. Each undoes itself exactly; what bootstrap owns it also repairs (`phase`).

The stray containers run the cAdvisor stand-in's image, which every Docker host already holds (phase 4), with
python3 as entrypoint: no image is pulled from outside the lab.
"""

from __future__ import annotations

import shlex

from homelab.clients import connect
from lab.faults.base import Fault, Lab

PROOF = "exposure"  # selftests/proof/test_exposure_proof.py breaks these, not the phase proofs
IMAGE = "198.18.10.5:5000/gcr.io/cadvisor/cadvisor:v0.49.1"
PORTAINER = "portainer.home.example.com"
ROUTER_FORWARD = ("PREROUTING -t nat -d {public} -p tcp --dport 443 -j DNAT --to-destination {platform}:443",
                  "FORWARD -d {platform} -p tcp --dport 443 -m conntrack --ctstate DNAT -j ACCEPT")
SSH_FROM_GUEST = "HOMELAB-INPUT -s {guest} -p tcp -m tcp --dport 22 -j RETURN"
RELAY_PORT = 23750
# A relay of the Docker socket to TCP, as `socat TCP-LISTEN:PORT,fork UNIX-CONNECT:/var/run/docker.sock` does.
RELAY = f"""
import socket, threading
def pipe(a, b):
    try:
        while data := a.recv(65536):
            b.sendall(data)
        b.shutdown(socket.SHUT_WR)
    except OSError:
        pass
server = socket.create_server(("0.0.0.0", {RELAY_PORT}), reuse_port=True)
while True:
    client, _ = server.accept()
    engine = socket.socket(socket.AF_UNIX)
    engine.connect("/var/run/docker.sock")
    for a, b in ((client, engine), (engine, client)):
        threading.Thread(target=pipe, args=(a, b), daemon=True).start()
"""
SLEEP = "import time; time.sleep(1e9)"
WEB = "import http.server as h; h.ThreadingHTTPServer(('', 8080), h.SimpleHTTPRequestHandler).serve_forever()"


def _iptables(lab: Lab, machine: str, action: str, rule: str) -> None:
    """Insert (`-I`) or delete (`-D`) one rule; deleting a rule that is not there is no error (undo is exact)."""
    table = ""
    if rule.split()[1:2] == ["-t"]:
        chain, _, table_name, rest = rule.split(" ", 3)
        rule, table = f"{chain} {rest}", f"-t {table_name} "
    command = f"iptables {table}{action} {rule}"
    lab.sh(machine, command if action == "-I" else f"while {command} 2>/dev/null; do :; done; true")


def _router(lab: Lab, action: str) -> None:
    public, platform = str(lab.inventory.public_address), str(lab.inventory.platform_host.address)
    for rule in ROUTER_FORWARD:
        _iptables(lab, "router", action, rule.format(public=public, platform=platform))


def _ssh_guest(lab: Lab, action: str) -> None:
    guest = str(lab.inventory.networks["guest"].cidr)
    _iptables(lab, "unraid", action, SSH_FROM_GUEST.format(guest=guest))


def _detach_access_list(lab: Lab) -> None:
    with lab.npm() as npm:
        host = npm.proxy_host_for(PORTAINER)
        assert host is not None, f"NPM has no proxy host {PORTAINER}: apply bootstrap phase 1 first"
        npm.update_proxy_host(host.id, {"access_list_id": 0})


CATCH_ALL = "*.home.example.com"


def _catch_all(lab: Lab, present: bool) -> None:
    """A wildcard proxy host forwarding every unknown name to Portainer (plain HTTP, no certificate)."""
    address, port = connect.address(lab.inventory, "portainer")
    with lab.npm() as npm:
        for host in npm.proxy_hosts():
            if CATCH_ALL in host.domain_names:
                npm.delete_proxy_host(host.id)
        if present:
            npm.create_proxy_host({
                "domain_names": [CATCH_ALL], "forward_scheme": "https", "forward_host": address, "forward_port": port,
                "certificate_id": 0, "ssl_forced": False, "http2_support": False, "block_exploits": False,
                "hsts_enabled": False, "hsts_subdomains": False, "allow_websocket_upgrade": False,
                "caching_enabled": False, "access_list_id": 0, "advanced_config": "", "enabled": True})


def _run(lab: Lab, host: str, name: str, options: str, script: str) -> None:
    lab.sh(host, f"docker rm -f {name} >/dev/null 2>&1; docker run -d --name {name} --restart no {options} "
                 f"--entrypoint python3 {IMAGE} -c {shlex.quote(script)} >/dev/null", timeout=120)


def _remove(lab: Lab, host: str, name: str) -> None:
    lab.sh(host, f"docker rm -f {name} >/dev/null 2>&1; true")


FAULTS = (
    Fault("access-list-detached", f"NPM's proxy host {PORTAINER} without its access list (anyone who reaches "
          "NPM's 443 reaches Portainer)",
          (f"test_name_has_access_list[{PORTAINER}]",), _detach_access_list, lambda lab: None, phase=1, proof=PROOF),
    Fault("catch-all-name", f"a proxy host {CATCH_ALL} in NPM forwarding every unknown name to Portainer",
          ("test_unknown_name_reaches_nothing[runner]", "test_unknown_name_reaches_nothing[vpn-client]"),
          lambda lab: _catch_all(lab, True), lambda lab: _catch_all(lab, False), phase=1, proof=PROOF),
    Fault("router-forwards-443", "the router forwards the public address's 443 to NPM while every service is "
          "private (invisible from the internet while the platform's DOCKER-USER drops it)",
          ("test_router_forwards_only_public_ports",), lambda lab: _router(lab, "-I"),
          lambda lab: _router(lab, "-D"), phase=1, proof=PROOF),
    Fault("ssh-open-to-guest", "SSH on Unraid opened to the guest network (a RETURN rule in HOMELAB-INPUT)",
          ("test_ssh_lan_and_vpn_only[unraid<-guest]", "test_nothing_unplanned_answers[unraid<-guest]"),
          lambda lab: _ssh_guest(lab, "-I"), lambda lab: _ssh_guest(lab, "-D"), phase=2, proof=PROOF),
    Fault("stray-container", "an unplanned container publishing 0.0.0.0:8081 on the platform VM",
          ("test_only_planned_containers[platform]", "test_no_unplanned_published_port[platform]",
           "test_only_planned_listeners[platform]"),
          lambda lab: _run(lab, "platform", "stray-web", "-p 0.0.0.0:8081:8080", WEB),
          lambda lab: _remove(lab, "platform", "stray-web"), phase=1, proof=PROOF),
    Fault("docker-socket-relay", f"a container relaying /var/run/docker.sock to TCP {RELAY_PORT} on pve-docker-1",
          ("test_only_planned_containers[pve-docker-1]", "test_no_unplanned_published_port[pve-docker-1]",
           "test_docker_socket_only_where_allowed[pve-docker-1]", "test_only_planned_listeners[pve-docker-1]",
           "test_no_port_answers_docker_api[pve-docker-1]"),
          lambda lab: _run(lab, "pve-docker-1", "socket-relay", f"-p {RELAY_PORT}:{RELAY_PORT} "
                           "-v /var/run/docker.sock:/var/run/docker.sock", RELAY),
          lambda lab: _remove(lab, "pve-docker-1", "socket-relay"), phase=2, proof=PROOF),
    Fault("privileged-root-mount", "a privileged container with the host's / mounted on Unraid",
          ("test_only_planned_containers[unraid]", "test_no_host_access_unless_allowed[unraid]"),
          lambda lab: _run(lab, "unraid", "rooted", "--privileged -v /:/host", SLEEP),
          lambda lab: _remove(lab, "unraid", "rooted"), phase=2, proof=PROOF),
)
