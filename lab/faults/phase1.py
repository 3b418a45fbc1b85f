"""The phase 1 faults: each breaks one constraint of the platform VM, and names the specs that must catch it."""

from __future__ import annotations

import datetime as dt
import json
import shlex
import time
from collections.abc import Callable

from homelab.model.certs import issue_leaf, load_authority
from lab.docker import LabError
from lab.faults.base import SAVED, Fault, Lab
from lab.topology import PUBLIC_ADDRESS, REGISTRY, ROUTER

FQDN = "status.home.example.com"     # the service name whose DNS record and certificate the faults break
CONTAINER = "uptime-kuma"            # the container the faults stop or re-tag
DRIFT_TAG = "louislam/uptime-kuma:1.23.15"  # another tag of the same image, pushed to the lab registry
ALLOWED_SOURCES = ("runner", "platform", "unraid", "pve-docker-1", "pve-docker-2", "gaming-pc-1", "vpn-client")
GUEST_DOCKER_PORTS = ("test_portainer_https[guest]", "test_portainer_edge_tunnel[guest]", "test_npm_admin[guest]",
                      "test_technitium_console[guest]", "test_technitium_dns_tcp[guest]", "test_uptime_kuma[guest]",
                      "test_npm_proxy_ports[guest-80]", "test_npm_proxy_ports[guest-443]",
                      "test_technitium_dns_udp[guest]", "test_nothing_unplanned_answers[platform<-guest]")
DRIFT_FILE = "/tmp/homelab-fault-drift.yml"  # noqa: S108 -- a file inside the lab host, removed by undo
SHORT = dt.timedelta(minutes=1)      # a certificate this short-lived is waited out: it is served expired


# -- the faults -----------------------------------------------------------------------------------------

def _dnat(lab: Lab, flag: str) -> None:
    platform, lan_side = lab.inventory.platform_host.address, ROUTER["lan"]
    lab.sh("router", "; ".join([
        f"iptables -t nat {flag} PREROUTING -d {PUBLIC_ADDRESS} -p tcp --dport 9443 -j DNAT "
        f"--to-destination {platform}:9443",
        # a router that masquerades what it forwards (as many do): the platform then sees a LAN source
        f"iptables -t nat {flag} POSTROUTING -d {platform} -p tcp --dport 9443 -m conntrack --ctstate DNAT "
        f"-j SNAT --to-source {lan_side}",
        f"iptables {flag.replace('-A', '-I')} FORWARD -d {platform} -p tcp --dport 9443 -j ACCEPT"]))


def _daemon_tcp(lab: Lab) -> None:
    SAVED.mkdir(parents=True, exist_ok=True)
    original = lab.sh("platform", "cat /etc/docker/daemon.json 2>/dev/null || echo '{}'")
    (SAVED / "daemon.json").write_text(original)
    config = json.loads(original or "{}")
    config["hosts"] = ["unix:///var/run/docker.sock", "tcp://0.0.0.0:2375"]
    lab.sh("platform", f"printf %s {shlex.quote(json.dumps(config))} > /etc/docker/daemon.json && "
                       "service docker restart >/dev/null", timeout=180)


def _daemon_restore(lab: Lab) -> None:
    saved = SAVED / "daemon.json"
    if saved.exists():
        config = json.loads(saved.read_text() or "{}")
        config.pop("hosts", None)  # never restore a tcp host, whatever was saved
        lab.sh("platform", f"printf %s {shlex.quote(json.dumps(config))} > /etc/docker/daemon.json && "
                           "service docker restart >/dev/null", timeout=180)


def _record(lab: Lab, verb: str) -> None:
    address, zone = str(lab.inventory.platform_host.address), lab.inventory.domain
    with lab.technitium() as technitium:
        if verb == "delete":
            technitium.delete_record(FQDN, "A", zone=zone, ipAddress=address)
        else:
            technitium.add_a(FQDN, address, zone=zone, ttl=300, overwrite=True)


def _serve_cert(name: str, lifetime: dt.timedelta) -> Callable[[Lab], None]:
    """Upload a lab-CA certificate for `name` valid for `lifetime` from now, and put it on FQDN's proxy host.

    NPM refuses to upload an expired certificate (as the real one does): an "expired" one is uploaded with a
    lifetime of seconds, and the fault waits until it has run out, while nginx goes on serving it.
    """
    def apply(lab: Lab) -> None:
        tls = lab.inventory.tls
        if tls is None or tls.ca_cert is None or tls.ca_key is None:
            raise LabError("the lab inventory names no CA (tls.ca_cert, tls.ca_key): run `lab up`")
        leaf = issue_leaf(load_authority(tls.ca_cert, tls.ca_key), name, days=lifetime / dt.timedelta(days=1))
        with lab.npm() as npm:
            cert = npm.create_custom_certificate(f"fault {name}")
            npm.upload_certificate(cert.id, leaf.certificate_pem, leaf.key_pem)
            host = npm.proxy_host_for(FQDN)
            if host is None:
                raise LabError(f"NPM has no proxy host for {FQDN}: apply bootstrap phase 1 first")
            npm.update_proxy_host(host.id, {"certificate_id": cert.id})
        if lifetime < SHORT:
            time.sleep(max(0.0, (leaf.not_after - dt.datetime.now(dt.UTC)).total_seconds() + 2))
    return apply


def _drop_fault_certs(lab: Lab) -> None:
    """Bootstrap puts its own certificate back on the proxy host; the fault's certificates go."""
    with lab.npm() as npm:
        for cert in npm.certificates():
            if cert.nice_name.startswith("fault "):
                npm.delete_certificate(cert.id)


def _recursion(lab: Lab, mode: str) -> None:
    if mode == "Allow":
        with lab.technitium() as technitium:
            technitium.set_settings(recursion="Allow")


def _drift(lab: Lab) -> None:
    """Push the running image under another tag (from the platform, which trusts the lab registry), then
    recreate the container from that tag with a compose override, as a hand-made `image:` edit would."""
    current = lab.sh("platform", f"docker inspect --format '{{{{.Config.Image}}}}' {CONTAINER}").strip()
    other = f"{REGISTRY}/{DRIFT_TAG}"
    override = json.dumps({"services": {CONTAINER: {"image": other}}})
    lab.sh("platform", f"docker tag {shlex.quote(current)} {other} && docker push -q {other} >/dev/null && "
                       f"printf %s {shlex.quote(override)} > {DRIFT_FILE} && "
                       f"{lab.compose(CONTAINER, DRIFT_FILE)} up -d --no-deps {CONTAINER} 2>&1", timeout=300)


def _drift_undo(lab: Lab) -> None:
    files = [f for f in lab.label(CONTAINER, "com.docker.compose.project.config_files").split(",")
             if "homelab-fault-drift" not in f]
    project = lab.label(CONTAINER, "com.docker.compose.project")
    env = lab.label(CONTAINER, "com.docker.compose.project.environment_file").split(",")[0]
    args = ["docker", "compose", "-p", project, *[a for f in files for a in ("-f", f)]]
    args += ["--env-file", env] if env else []
    lab.sh("platform", f"{shlex.join(args)} up -d --no-deps {CONTAINER} 2>&1; rm -f {DRIFT_FILE}",
           timeout=300)


def _env_path(lab: Lab) -> str:
    env = lab.label(CONTAINER, "com.docker.compose.project.environment_file").split(",")[0]
    return env or f"{lab.label(CONTAINER, 'com.docker.compose.project.working_dir')}/.env"


# Asked through the name with TLS verified: a certificate that does not verify leaves them unable to observe
UNVERIFIED = (f"test_hsts_sent[{FQDN}]", f"test_name_proxied_to_service[{FQDN}]", f"test_api_refuses_anonymous[{FQDN}]")

FAULTS = (
    Fault("router-dnat-9443", "the router forwards 9443 from its WAN address to Portainer (and masquerades it)",
          ("test_portainer_https[wan]", "test_nothing_unplanned_answers[public<-wan]",
           "test_router_forwards_only_public_ports"), lambda lab: _dnat(lab, "-A"), lambda lab: _dnat(lab, "-D")),
    Fault("docker-user-flush", "DOCKER-USER flushed on the platform: published ports bypass ufw again",
          GUEST_DOCKER_PORTS, lambda lab: lab.sh("platform", "iptables -F DOCKER-USER"),
          lambda lab: lab.sh("platform", "ufw reload >/dev/null")),
    Fault("docker-tcp", "dockerd listens on tcp://0.0.0.0:2375 (daemon.json hosts, engine restarted)",
          ("test_dockerd_not_configured_for_tcp[platform]", "test_docker_api_closed[platform-2375]",
           "test_no_port_answers_docker_api[platform]", "test_only_planned_listeners[platform]"),
          _daemon_tcp, _daemon_restore, restarts=True),
    Fault("dns-record-delete", f"the A record of {FQDN} deleted in Technitium",
          (f"test_service_fqdn_resolves_to_npm[{FQDN}]",), lambda lab: _record(lab, "delete"),
          lambda lab: _record(lab, "add")),
    Fault("cert-expired", f"NPM serves {FQDN} an expired lab-CA certificate (uploaded valid for 20 s)",
          (f"test_certificate_verifies[{FQDN}]", f"test_certificate_not_expiring[{FQDN}]"),
          _serve_cert(FQDN, dt.timedelta(seconds=20)), _drop_fault_certs, also=UNVERIFIED,
          why="the specs that ask through the name with TLS verified cannot observe: could not observe"),
    Fault("cert-expiring", f"NPM serves {FQDN} a lab-CA certificate that expires in 5 days (< cert_min_days)",
          (f"test_certificate_not_expiring[{FQDN}]",), _serve_cert(FQDN, dt.timedelta(days=5)),
          _drop_fault_certs),
    Fault("cert-wrong-name", f"NPM serves {FQDN} a valid lab-CA certificate for another name",
          (f"test_certificate_verifies[{FQDN}]",), _serve_cert("wrong.home.example.com", dt.timedelta(days=90)),
          _drop_fault_certs, also=(f"test_certificate_not_expiring[{FQDN}]", *UNVERIFIED),
          why="the certificate is not for the name, so its expiry cannot be judged, nor anything asked through the "
              "name with TLS verified: could not observe"),
    Fault("recursion-open", "Technitium recursion set to Allow (for everyone)",
          ("test_recursion_limited_to_lan_and_vpn[technitium@platform]",), lambda lab: _recursion(lab, "Allow"),
          lambda lab: None),
    Fault("container-stopped", f"the {CONTAINER} container stopped",
          (f"test_container_running[{CONTAINER}@platform]", f"test_container_healthy[{CONTAINER}@platform]",
           *(f"test_uptime_kuma[{s}]" for s in ALLOWED_SOURCES), f"test_name_proxied_to_service[{FQDN}]",
           f"test_api_refuses_anonymous[{FQDN}]"),
          lambda lab: lab.sh("platform", f"docker stop {CONTAINER} >/dev/null"),
          lambda lab: lab.sh("platform", f"docker start {CONTAINER} >/dev/null")),
    Fault("image-drift", f"{CONTAINER} recreated from {DRIFT_TAG} (another tag in the lab registry)",
          (f"test_container_image_pinned[{CONTAINER}@platform]",), _drift, _drift_undo, restarts=True),
    Fault("env-world-readable", "the platform stack's .env made world-readable (chmod 644)",
          ("test_stack_env_private[platform]",), lambda lab: lab.sh("platform", f"chmod 644 {_env_path(lab)}"),
          lambda lab: lab.sh("platform", f"chmod 600 {_env_path(lab)}")),
    Fault("ufw-disabled", "ufw disabled on the platform",
          ("test_ufw_active_default_deny[platform]", "test_ssh_management_only[guest]"),
          lambda lab: lab.sh("platform", "ufw disable >/dev/null"),
          lambda lab: lab.sh("platform", "ufw --force enable >/dev/null"),
          also=GUEST_DOCKER_PORTS, why="ufw's stop flushes the chains its after.rules created, HOMELAB-DOCKER too"),
)
