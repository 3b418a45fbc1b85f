"""The hardening faults: sshd taking passwords again, root allowed to log in, NPM's nginx accepting TLS 1.0/1.1, a
name without HSTS or served over plain HTTP, Grafana open to anonymous admins, Open WebUI with its login off, an Edge
agent polling unverified. Each names the specs that
must catch it; bootstrap repairs each by behaviour (sshd's drop-in, NPM's container recreated from its image, the
proxy host's HSTS, a container whose compose config drifted). They share the exposure proof's deployment
(selftests/proof/test_exposure_proof.py), which breaks them in turn.
"""

from __future__ import annotations

import json
import shlex
import time

from lab.faults.base import EDGE_AGENT, Fault, Lab

PROOF = "exposure"
DROP_IN = "/etc/ssh/sshd_config.d/00-homelab.conf"
CLOUD_INIT = "/etc/ssh/sshd_config.d/50-cloud-init.conf"  # what cloud-init writes on a VM made from a cloud image
HUP = 'kill -HUP "$(cat /run/sshd.pid)"'
CIPHERS = "/etc/nginx/conf.d/include/ssl-ciphers.conf"  # NPM's TLS settings, a file of its image
NGINX_RELOAD = "nginx -p /data/nginx -c /data/nginx/nginx.conf -s reload"
HSTS_NAME = "grafana.home.example.com"
NAMES = ("portainer", "npm", "dns", "status", "ollama-gaming-pc-1", "chat-gaming-pc-1", "prometheus", "grafana")


def _passwords(lab: Lab, on: bool) -> None:
    if on:  # the hardening drop-in gone (a reinstalled openssh-server), and cloud-init's file turning passwords on
        lab.sh("platform", f"rm -f {DROP_IN}; printf 'PasswordAuthentication yes\\nKbdInteractiveAuthentication yes\\n'"
                           f" > {CLOUD_INIT}; {HUP}")
    else:
        lab.sh("platform", f"rm -f {CLOUD_INIT}; {HUP}")


def _root_login(lab: Lab, allowed: str) -> None:
    lab.sh("pve-docker-1", f"sed -i 's/^PermitRootLogin .*/PermitRootLogin {allowed}/' {DROP_IN}; {HUP}")


def _legacy_tls(lab: Lab) -> None:
    """TLS 1.0 and 1.1 turned on in NPM's own nginx file, in the running container, and nginx reloaded."""
    lab.sh("platform", "docker exec npm sh -c " + shlex.quote(
        f"sed -i -e 's/^ssl_protocols .*/ssl_protocols TLSv1 TLSv1.1 TLSv1.2 TLSv1.3;/' "
        f"-e 's/^ssl_ciphers .*/ssl_ciphers \"DEFAULT:@SECLEVEL=0\";/' {CIPHERS} && {NGINX_RELOAD}"))


def _proxy_host(lab: Lab, changes: dict[str, bool]) -> None:
    """One of NPM's proxy hosts edited through its API, as a click in its UI would."""
    with lab.npm() as npm:
        host = npm.proxy_host_for(HSTS_NAME)
        assert host is not None, f"NPM has no proxy host {HSTS_NAME}: apply bootstrap phase 4 first"
        npm.update_proxy_host(host.id, changes)


OVERRIDE_FILE = "/tmp/homelab-fault-environment.json"  # noqa: S108 - a compose override on the lab host


def _environment(lab: Lab, host: str, service: str, values: dict[str, str]) -> None:
    """`service` recreated with `values` added to its environment, as an `environment:` edit made by hand would.
    Bootstrap recreates it from the stack: its compose config hash no longer matches."""
    override = json.dumps({"services": {service: {"environment": values}}})
    started = time.time()
    lab.sh_project(host, service, f"printf %s {shlex.quote(override)} > {OVERRIDE_FILE} && "
                                  f"{lab.compose(service, OVERRIDE_FILE, host=host)} up -d --no-deps {service} 2>&1")
    lab.wait_healthy(service, host)
    if service == EDGE_AGENT:  # a new agent deploys its Edge stacks again: the fault is in place once they run
        lab.wait_edge_running(host, since=started)


def _forget_override(lab: Lab, host: str) -> None:
    lab.sh(host, f"rm -f {OVERRIDE_FILE}; docker exec {EDGE_AGENT} rm -f {OVERRIDE_FILE} 2>/dev/null || true")


FAULTS = (
    Fault("sshd-passwords", "sshd on the platform VM takes passwords again (hardening drop-in removed, cloud-init's "
          "PasswordAuthentication yes), reloaded",
          ("test_ssh_offers_keys_only[platform]", "test_root_login_only_where_planned[platform]"),
          lambda lab: _passwords(lab, True), lambda lab: _passwords(lab, False), phase=1, proof=PROOF,
          why="without the drop-in, Debian's default PermitRootLogin (prohibit-password) is back too"),
    Fault("sshd-root-login", "PermitRootLogin yes on pve-docker-1, reloaded",
          ("test_root_login_only_where_planned[pve-docker-1]",), lambda lab: _root_login(lab, "yes"),
          lambda lab: _root_login(lab, "no"), phase=2, proof=PROOF),
    Fault("npm-legacy-tls", "TLS 1.0 and 1.1 turned on in NPM's nginx (its ssl-ciphers.conf edited in the container, "
          "nginx reloaded)",
          tuple(f"test_legacy_tls_refused[{name}.home.example.com-{version}]" for name in NAMES
                for version in ("TLSv1", "TLSv1_1")),
          _legacy_tls, lambda lab: None, phase=1, proof=PROOF,
          why="undone by bootstrap phase 1 alone: it recreates NPM's container from its image"),
    Fault("hsts-off", f"HSTS turned off on NPM's proxy host {HSTS_NAME}",
          (f"test_hsts_sent[{HSTS_NAME}]",), lambda lab: _proxy_host(lab, {"hsts_enabled": False}), lambda lab: None,
          phase=4, proof=PROOF, why="undone by bootstrap phase 4 alone: the proxy host is planned with HSTS on"),
    Fault("force-ssl-off", f"Force SSL turned off on NPM's proxy host {HSTS_NAME}: it is served over plain HTTP "
          "(NPM turns HSTS off with it)",
          (f"test_http_redirects_to_https[{HSTS_NAME}]", f"test_hsts_sent[{HSTS_NAME}]"),
          lambda lab: _proxy_host(lab, {"ssl_forced": False}), lambda lab: None, phase=4, proof=PROOF,
          why="NPM clears hsts_enabled with ssl_forced (upstream's proxy host rules), so NAME-TLS-005 fails too; "
              "undone by bootstrap phase 4 alone: the proxy host is planned with Force SSL and HSTS on"),
    Fault("grafana-anonymous", "Grafana recreated with anonymous access as Admin (GF_AUTH_ANONYMOUS_ENABLED=true)",
          ("test_api_refuses_anonymous[grafana.home.example.com]",
           "test_no_anonymous_access_or_sign_up[grafana@platform]"),
          lambda lab: _environment(lab, "platform", "grafana", {"GF_AUTH_ANONYMOUS_ENABLED": "true",
                                                                "GF_AUTH_ANONYMOUS_ORG_ROLE": "Admin"}),
          lambda lab: _forget_override(lab, "platform"), phase=4, proof=PROOF, restarts=True,
          why="bootstrap phase 4 recreates Grafana: its compose config hash no longer matches the stack's"),
    Fault("webui-auth-off", "Open WebUI on gaming-pc-1 recreated with WEBUI_AUTH=false (anyone signs in as its "
          "admin; /api/v1/users/ still refuses a visitor without a token)",
          ("test_api_refuses_anonymous[chat-gaming-pc-1.home.example.com]",
           "test_edge_stack_runs_the_reference[gpu-worker@gaming-pc-1]"),
          lambda lab: _environment(lab, "gaming-pc-1", "open-webui", {"WEBUI_AUTH": "false"}),
          lambda lab: _forget_override(lab, "gaming-pc-1"), phase=3, proof=PROOF, restarts=True,
          why="GIT-EDGE-002 sees a container its Edge agent did not make; bootstrap phase 3 redeploys the Edge stack"),
    Fault("edge-insecure-poll", "the Edge agent on gaming-pc-1 recreated with EDGE_INSECURE_POLL=1",
          ("test_edge_agent_verifies_portainer[gaming-pc-1]",),
          lambda lab: _environment(lab, "gaming-pc-1", EDGE_AGENT, {"EDGE_INSECURE_POLL": "1"}),
          lambda lab: _forget_override(lab, "gaming-pc-1"), phase=3, proof=PROOF,
          why="bootstrap phase 3 recreates the agent: its compose config hash no longer matches the stack's"),
)
