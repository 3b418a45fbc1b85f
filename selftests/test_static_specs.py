"""Proof that each static spec fails when its constraint is broken.

The specs in tests/static assert that the checks of homelab.checks.static, static_services and static_monitoring
return no problems. Here each check is fed a copy of the real stacks and inventory with exactly one thing broken,
and must report exactly that problem. One end-to-end test runs the real spec modules with pytester against a
broken copy of the repository.
"""

from __future__ import annotations

import importlib.util
import re
import shutil
import subprocess
from pathlib import Path

import pytest

from homelab.checks import static, static_monitoring, static_services
from homelab.checks.static import Repository
from homelab.model.compose import (
    ComposeError,
    Mount,
    PortMapping,
    load_compose,
    parse_port,
    parse_volume,
    variable_references,
)
from homelab.model.paths import REPO
from homelab.report.columns import SEVERITIES

pytest_plugins = ["pytester"]

ROOT = REPO
SERVICE_CHECKS = [static_services.image_pinned, static_services.healthcheck_defined, static_services.restart_policy,
                  static_services.container_name_matches, static_services.socket_allowed,
                  static_services.secrets_referenced, static_services.in_inventory,
                  static_services.ports_match_inventory, static_services.no_docker_api_port]
STACK_CHECKS = [static.stack_files_present, static.compose_valid, static.variables_documented,
                static.env_example_used, static.env_example_commented, static.stack_deployed]


def _copy_repo(target: Path) -> None:
    shutil.copytree(ROOT / "stacks", target / "stacks")
    shutil.copy(ROOT / "inventory.yaml", target / "inventory.yaml")
    subprocess.run(["git", "init", "-q", str(target)], check=True)
    subprocess.run(["git", "-C", str(target), "add", "."], check=True)


@pytest.fixture
def repo(tmp_path: Path) -> Path:
    """A git checkout holding a copy of the real stacks and inventory."""
    _copy_repo(tmp_path)
    return tmp_path


def edit(path: Path, old: str, new: str) -> None:
    """Replace `old` (which must occur exactly once) by `new`."""
    text = path.read_text(encoding="utf-8")
    assert text.count(old) == 1, f"{path}: expected {old!r} once"
    path.write_text(text.replace(old, new), encoding="utf-8")


def all_problems(root: Path) -> list[str]:
    """Every problem every check finds in the repository at `root`."""
    repo = Repository(root)
    found = static.inventory_valid(repo) + static.no_env_files_tracked(repo) + static.no_dockerd_tcp(repo)
    found += static_monitoring.prometheus_file_sd(repo) + static_monitoring.grafana_dashboards(repo)
    for stack in repo.stacks():
        found += [p for check in STACK_CHECKS for p in check(repo, stack)]
    for stack, service in repo.service_ids():
        found += [p for check in SERVICE_CHECKS for p in repo.check_service(check, stack, service)]
    for name in repo.inventory_service_names():
        found += static.inventory_service_in_stack(repo, name)
    return found


def only_problem(root: Path) -> str:
    problems = all_problems(root)
    assert len(problems) == 1, "\n".join(problems) or "no problem found"
    return problems[0]


def parts(message: str) -> dict[str, str]:
    """A problem's four parts: every static check words its problems as homelab.checks.problem does."""
    match = re.fullmatch(r"expected (?P<expected>.*?); found (?P<found>.*); where: (?P<where>.*?); fix: (?P<fix>.*)",
                         message)
    assert match, f"not in the shape of homelab.checks.problem: {message}"
    return match.groupdict()


def compose_path(root: Path, stack: str) -> Path:
    return root / "stacks" / stack / "compose.yaml"


def test_clean_copy_has_no_problem(repo: Path) -> None:
    """The unbroken copy passes every check, so each break below is the only problem."""
    assert all_problems(repo) == []


# -- one break, one problem ---------------------------------------------------------------------------------

@pytest.mark.parametrize(("image", "found"), [
    ("portainer/portainer-ce:latest", "'portainer/portainer-ce:latest'"),
    ("portainer/portainer-ce", "'portainer/portainer-ce'"),
    ("localhost:5000/portainer-ce", "'localhost:5000/portainer-ce'"),
    ("portainer/portainer-ce:${PORTAINER_TAG:-2.23.0}", "PORTAINER_TAG"),
], ids=["latest", "untagged", "registry-port-untagged", "variable-tag"])
def test_image_not_pinned(repo: Path, image: str, found: str) -> None:
    """An image without a fixed version is reported with the file and the image found."""
    edit(compose_path(repo, "platform"), "image: portainer/portainer-ce:2.23.0", f"image: {image}")
    if "$" in image:
        with (repo / "stacks/platform/.env.example").open("a", encoding="utf-8") as env:
            env.write("# not a secret\nPORTAINER_TAG=2.23.0\n")
    message = parts(only_problem(repo))
    assert message["where"].endswith("services.portainer.image")
    assert message["expected"].startswith("an image pinned")
    assert found in message["found"]


def test_image_digest_counts_as_pinned(repo: Path) -> None:
    """A digest pins an image as well as a tag does."""
    edit(compose_path(repo, "platform"), "image: portainer/portainer-ce:2.23.0",
         "image: portainer/portainer-ce@sha256:" + "a" * 64)
    assert all_problems(repo) == []


def test_socket_mount_not_allowed(repo: Path) -> None:
    """A socket mount on a service whose inventory policy is none (npm) is reported."""
    edit(compose_path(repo, "platform"), "      - npm_data:/data\n",
         "      - npm_data:/data\n      - /var/run/docker.sock:/var/run/docker.sock:ro\n")
    message = parts(only_problem(repo))
    assert message["where"].endswith("services.npm.volumes.1")
    assert message["expected"] == "no Docker socket (inventory docker_socket: none)"


def test_socket_directory_mount_not_allowed(repo: Path) -> None:
    """Mounting /var/run (upstream cAdvisor's way) hands over the socket and is reported."""
    edit(compose_path(repo, "platform"), "      - uptime_kuma_data:/app/data\n",
         "      - uptime_kuma_data:/app/data\n      - type: bind\n        source: /var/run\n        target: /var/run\n")
    message = parts(only_problem(repo))
    assert message["where"].endswith("services.uptime-kuma.volumes.1")
    assert message["expected"].startswith("no Docker socket")


def test_socket_must_be_read_only(repo: Path) -> None:
    """Where the inventory says ro (cadvisor), a read-write socket mount is reported."""
    edit(compose_path(repo, "exporters"), "/var/run/docker.sock:/var/run/docker.sock:ro",
         "/var/run/docker.sock:/var/run/docker.sock")
    message = parts(only_problem(repo))
    assert message["where"].endswith("services.cadvisor.volumes.0")
    assert message["expected"].startswith("the Docker socket read-only")


def test_api_socket_not_allowed(repo: Path) -> None:
    """Compose's use_api_socket hands over the engine too and is reported where the policy is none."""
    edit(compose_path(repo, "monitoring"), "    container_name: grafana\n",
         "    container_name: grafana\n    use_api_socket: true\n")
    message = parts(only_problem(repo))
    assert message["where"].endswith("services.grafana.use_api_socket")
    assert message["expected"].startswith("no Docker API access")


def test_missing_healthcheck(repo: Path) -> None:
    """A service without a healthcheck is reported."""
    edit(compose_path(repo, "platform"), "    healthcheck:\n      # The image's own check: GET /api/ on 81 must "
         'report status OK.\n      test: ["CMD", "/usr/bin/check-health"]\n      interval: 30s\n      timeout: 10s\n'
         "      retries: 3\n      start_period: 60s\n      start_interval: 2s\n", "")
    message = only_problem(repo)
    assert "services.npm" in message
    assert "found no healthcheck" in message


def test_disabled_healthcheck_needs_label(repo: Path) -> None:
    """Disabling a healthcheck without the exemption label is reported."""
    edit(compose_path(repo, "agent"), "      homelab.healthcheck:", "      homelab.note:")
    assert "found a disabled healthcheck without a `homelab.healthcheck" in only_problem(repo)


def test_healthcheck_tool_missing_from_image(repo: Path) -> None:
    """A healthcheck that runs a program the pinned image lacks (curl in Technitium 13.6.0) is reported, naming
    the upstream file that lists the image's tools."""
    edit(compose_path(repo, "platform"),
         'test: ["CMD", "dig", "+short", "+norecurse", "+retry=0", "+time=3", "@127.0.0.1", "localhost"]',
         'test: ["CMD-SHELL", "curl --fail --silent http://localhost:5380/ || exit 1"]')
    message = only_problem(repo)
    assert "services.technitium.healthcheck" in message
    assert "`curl`, which technitium/dns-server:13.6.0 does not have" in message
    assert "DnsServer v13.6.0 Dockerfile" in message


def test_healthcheck_tools_known_for_the_platform_images() -> None:
    """The stacks' own healthchecks run programs their pinned images have, where the image's tools are known."""
    platform = load_compose(ROOT / "stacks" / "platform" / "compose.yaml")
    assert [static_services.healthcheck_tool_missing(svc) for svc in platform.services.values()] == [None] * 4
    assert static_services.healthcheck_program(platform.services["technitium"].healthcheck.test) == "dig"  # type: ignore[union-attr]


def test_restart_policy_missing(repo: Path) -> None:
    """A service without a restart policy is reported."""
    edit(compose_path(repo, "gpu-worker"), "    container_name: ollama\n    restart: unless-stopped\n",
         "    container_name: ollama\n")
    message = parts(only_problem(repo))
    assert message["where"].endswith("services.ollama")
    assert message["expected"] == "restart: unless-stopped (or always)"
    assert message["found"] == "no restart policy"


def test_container_name_mismatch(repo: Path) -> None:
    """A container named differently from its service key is reported."""
    edit(compose_path(repo, "monitoring"), "container_name: prometheus", "container_name: prom")
    assert "expected container_name: prometheus (the service key); found 'prom'" in only_problem(repo)


def test_secret_value_in_compose(repo: Path) -> None:
    """A password written into the compose file is reported."""
    edit(compose_path(repo, "monitoring"),
         "GF_SECURITY_ADMIN_PASSWORD: ${GRAFANA_ADMIN_PASSWORD:?set GRAFANA_ADMIN_PASSWORD in .env "
         "(op://homelab/grafana/password)}", "GF_SECURITY_ADMIN_PASSWORD: hunter2hunter2")
    edit(repo / "stacks/monitoring/.env.example", "# Grafana's admin password.\n# op://homelab/grafana/password\n"
         "GRAFANA_ADMIN_PASSWORD=change-me-grafana-password\n", "")
    message = only_problem(repo)
    assert "services.grafana.environment.GF_SECURITY_ADMIN_PASSWORD" in message
    assert "found a value in the file" in message


PROMETHEUS_COMMAND = "      - --storage.tsdb.retention.time=30d\n"


@pytest.mark.parametrize(("key", "text", "where", "name"), [
    ("command", "      - --web.basic-auth-password=hunter2\n", "command.3", "--web.basic-auth-password"),
    ("command", "      - --password\n      - hunter2\n", "command.3", "--password"),
    ("command", "      - --api-token hunter2\n", "command.3", "--api-token"),
    ("entrypoint", '    entrypoint: ["sh", "-c", "PASSWORD=hunter2 exec /bin/prometheus \\"$$@\\"", "--"]\n',
     "entrypoint.2", "PASSWORD"),
    ("entrypoint", "    entrypoint: /bin/prometheus --web.admin-token=s3cr3t\n", "entrypoint", "--web.admin-token"),
], ids=["flag=value", "flag-value-items", "flag-value-one-item", "inline-assignment", "string-entrypoint"])
def test_secret_value_in_command(repo: Path, key: str, text: str, where: str, name: str) -> None:
    """A password given literally as a command or entrypoint flag, or assigned inline, is reported."""
    compose = compose_path(repo, "monitoring")
    if key == "command":
        edit(compose, PROMETHEUS_COMMAND, PROMETHEUS_COMMAND + text)
    else:
        edit(compose, "    container_name: prometheus\n", "    container_name: prometheus\n" + text)
    message = only_problem(repo)
    assert parts(message)["where"].endswith(f"services.prometheus.{where}")
    assert parts(message)["expected"].startswith(f"the secret {name} as a ${{VAR}}")
    assert parts(message)["found"] == f"a value in the file ({name} given literally in `{key}`)"
    assert "hunter2" not in message  # the finding never repeats the secret
    assert "s3cr3t" not in message


def test_secret_reference_in_command_is_fine(repo: Path) -> None:
    """`${VAR}` interpolation, the container's own `$$VAR`, a secret file and an unrelated flag are not values."""
    edit(compose_path(repo, "monitoring"), PROMETHEUS_COMMAND, PROMETHEUS_COMMAND
         + "      - --web.basic-auth-password=${PROMETHEUS_PASSWORD:?set PROMETHEUS_PASSWORD in .env}\n"
         + "      - --api-token\n      - $${API_TOKEN}\n      - --password-file=/run/secrets/prometheus\n"
         + "      - --tls-key=/certs/key.pem\n      - --web.enable-admin-api=false\n")
    with (repo / "stacks/monitoring/.env.example").open("a", encoding="utf-8") as env:
        env.write("# op://homelab/prometheus/password\nPROMETHEUS_PASSWORD=change-me\n")
    assert all_problems(repo) == []


def test_variable_missing_from_env_example(repo: Path) -> None:
    """A ${VAR} that .env.example does not list is reported with its name and where it is used."""
    edit(compose_path(repo, "gpu-worker"), "OLLAMA_HOST: 0.0.0.0:11434", "OLLAMA_HOST: ${OLLAMA_LISTEN:-0.0.0.0:11434}")
    message = parts(only_problem(repo))
    assert message["where"].endswith("services.ollama.environment.OLLAMA_HOST")
    assert message["expected"].startswith("OLLAMA_LISTEN listed in")


def test_env_example_variable_unused(repo: Path) -> None:
    """A variable listed in .env.example but used nowhere is reported."""
    (repo / "stacks/exporters/.env.example").write_text("# not a secret\nSTALE=1\n", encoding="utf-8")
    assert "expected STALE used by" in only_problem(repo)


def test_env_example_variable_uncommented(repo: Path) -> None:
    """A variable of .env.example with no comment above it is reported."""
    (repo / "stacks/gpu-worker/.env.example").write_text("WEBUI_SECRET_KEY=placeholder\n", encoding="utf-8")
    assert "expected a # comment above WEBUI_SECRET_KEY" in only_problem(repo)


def test_published_port_mismatch(repo: Path) -> None:
    """Publishing a port the inventory does not list (Portainer's HTTP 9000) is reported with both lists."""
    edit(compose_path(repo, "platform"), '      - "8000:8000"\n', '      - "8000:8000"\n      - "9000:9000"\n')
    message = parts(only_problem(repo))
    assert message["where"].endswith("services.portainer.ports")
    assert message["expected"].startswith("published ports [8000/tcp, 9443/tcp]")
    assert message["found"] == "[8000/tcp, 9000/tcp, 9443/tcp]"


def test_wrong_protocol_is_a_mismatch(repo: Path) -> None:
    """53/udp published as tcp only is a mismatch: protocols count."""
    edit(compose_path(repo, "platform"), '      - "53:53/udp"\n', "")
    assert "found [53/tcp, 5380/tcp]" in only_problem(repo)


def test_compose_service_missing_from_inventory(repo: Path) -> None:
    """Renaming a compose service breaks both directions of the inventory agreement."""
    edit(compose_path(repo, "platform"), "  uptime-kuma:\n", "  kuma:\n")
    edit(compose_path(repo, "platform"), "container_name: uptime-kuma", "container_name: kuma")
    problems = all_problems(repo)
    assert len(problems) == 2, "\n".join(problems)
    assert "expected inventory.yaml services.kuma with stack: platform; found no such service" in problems[0]
    assert "expected a service 'uptime-kuma'" in problems[1]


def test_duplicate_key_in_compose(repo: Path) -> None:
    """A duplicate key makes the compose file invalid; every check of that stack says it cannot read it."""
    edit(compose_path(repo, "agent"), "    restart: unless-stopped\n",
         "    restart: unless-stopped\n    restart: always\n")
    problems = all_problems(repo)
    assert "compose.yaml:9: services.portainer-agent.restart: duplicate key" in problems[0]
    assert all("agent" in p and "duplicate key" in p for p in problems)


@pytest.mark.parametrize(("old", "new", "expected"), [
    ("    ports:\n      - \"9001:9001\"", "    port:\n      - \"9001:9001\"", "unknown service key 'port'"),
    ("    image: portainer/agent:2.23.0\n", "", "no `image`"),
    ("\"9001:9001\"", "\"9001:9001:9001:1\"", "services.portainer-agent.ports.0: cannot read"),
    ("/var/lib/docker/volumes:/var/lib/docker/volumes", "agent_volumes:/var/lib/docker/volumes",
     "named volume 'agent_volumes' is not declared"),
    ("services:", "service:", "unknown top-level key 'service'"),
    ("AGENT_SECRET: ${AGENT_SECRET:?", "AGENT_SECRET: $ {AGENT_SECRET:?", "invalid interpolation"),
], ids=["typo-key", "no-image", "bad-port", "undeclared-volume", "typo-top-level", "bad-interpolation"])
def test_invalid_compose_reported(repo: Path, old: str, new: str, expected: str) -> None:
    """Structural compose mistakes make compose_valid report one line naming file, path and problem."""
    edit(compose_path(repo, "agent"), old, new)
    problems = static.compose_valid(Repository(repo), "agent")
    assert len(problems) == 1
    assert str(compose_path(repo, "agent")) in problems[0]
    assert expected in problems[0]


def test_docker_api_port_published(repo: Path) -> None:
    """Publishing 2375 is reported (besides the inventory mismatch it also is)."""
    edit(compose_path(repo, "agent"), '      - "9001:9001"\n', '      - "9001:9001"\n      - "2375:2375"\n')
    problems = all_problems(repo)
    assert any("expected no Docker API port (2375/2376) published; found 2375:2375/tcp" in p for p in problems)
    assert len(problems) == 2, "\n".join(problems)


def test_env_file_tracked(repo: Path) -> None:
    """A .env file added to git is reported even though .gitignore would hide it."""
    (repo / "stacks/platform/.env").write_text("AGENT_SECRET=real\n", encoding="utf-8")
    subprocess.run(["git", "-C", str(repo), "add", "-f", "stacks/platform/.env"], check=True)
    message = parts(only_problem(repo))
    assert message["where"].endswith("stacks/platform/.env")
    assert message["expected"].startswith("no .env file in git")


@pytest.mark.parametrize("line", [
    "ExecStart=/usr/bin/dockerd -H fd:// -H tcp://0.0.0.0:2375",
    '{"hosts": ["unix:///var/run/docker.sock", "tcp://0.0.0.0:2376"]}',
    "dockerd --host=tcp://127.0.0.1:2375 &",
    "ExecStart=/usr/bin/dockerd -H fd:// -Htcp://0.0.0.0:2375",
    "DOCKER_OPTS='--host tcp://0.0.0.0:2376'",
], ids=["systemd-flag", "daemon-json", "long-flag", "joined-flag", "long-flag-space"])
def test_dockerd_tcp_listener(repo: Path, line: str) -> None:
    """A dockerd TCP listener in any repository file is reported with file and line."""
    (repo / "bootstrap").mkdir()
    (repo / "bootstrap/docker.conf").write_text(f"# engine\n{line}\n", encoding="utf-8")
    message = parts(only_problem(repo))
    assert message["where"].endswith("bootstrap/docker.conf:2")
    assert message["expected"] == "dockerd on its unix socket only"


def test_dockerd_tcp_marker_allows_a_reviewed_line(repo: Path) -> None:
    """A line carrying the explicit allow marker (the lab's deliberate breakage) is not reported."""
    (repo / "lab").mkdir()
    (repo / "lab/break.sh").write_text(f"dockerd -H tcp://0.0.0.0:2375  # {static.ALLOW_TCP_MARKER}\n",
                                       encoding="utf-8")
    assert all_problems(repo) == []


def test_inventory_invalid(repo: Path) -> None:
    """An inventory with a duplicate key fails inventory_valid, and every check needing it says so."""
    edit(repo / "inventory.yaml", "name: homelab\n", "name: homelab\nname: other\n")
    problems = all_problems(repo)
    assert "inventory.yaml:6: name: duplicate key" in problems[0]
    assert all("inventory.yaml:6: name: duplicate key" in p for p in problems)


def test_stack_file_missing(repo: Path) -> None:
    """A stack folder without its README is reported."""
    (repo / "stacks/edge-agent/README.md").unlink()
    assert "expected stacks/edge-agent/README.md; found no such file" in only_problem(repo)


def test_unknown_stack_folder(repo: Path) -> None:
    """A stack folder the inventory does not know is reported (and its service is not in the inventory)."""
    shutil.copytree(repo / "stacks/exporters", repo / "stacks/extras")
    problems = [p for p in all_problems(repo) if "extras" in p]
    assert any("expected a stack the inventory knows" in p for p in problems)


def test_prometheus_job_without_file_sd(repo: Path) -> None:
    """A cadvisor job that lists targets statically instead of reading targets/*.json is reported."""
    edit(repo / "stacks/monitoring/prometheus/prometheus.yml",
         '    file_sd_configs:\n      - files: ["/etc/prometheus/targets/cadvisor-*.json"]\n'
         "        refresh_interval: 1m\n",
         '    static_configs:\n      - targets: ["198.51.100.10:8080"]\n')
    message = parts(only_problem(repo))
    assert message["where"].endswith("prometheus.yml: scrape_configs.cadvisor")
    assert message["expected"] == "file_sd_configs reading /etc/prometheus/targets/*.json"


def test_dashboard_uid_changed(repo: Path) -> None:
    """A dashboard whose fixed uid changed is reported as missing."""
    edit(repo / "stacks/monitoring/grafana/dashboards/homelab-hosts.json", '"uid": "homelab-hosts"', '"uid": "hosts"')
    assert "expected a dashboard with uid 'homelab-hosts'" in only_problem(repo)


def test_dashboard_on_other_datasource(repo: Path) -> None:
    """A panel pointing at a datasource other than uid prometheus is reported."""
    path = repo / "stacks/monitoring/grafana/dashboards/homelab-containers.json"
    path.write_text(path.read_text(encoding="utf-8").replace('"uid": "prometheus"', '"uid": "P1809F7CD0C75ACF3"', 1),
                    encoding="utf-8")
    message = parts(only_problem(repo))
    assert message["where"].endswith("homelab-containers.json")
    assert message["expected"] == "every panel on datasource uid 'prometheus'"


# -- the compose reader -------------------------------------------------------------------------------------

@pytest.mark.parametrize(("spec", "expected"), [
    ("80:80", [PortMapping(80, 80)]),
    ("127.0.0.1:81:81", [PortMapping(81, 81, "tcp", "127.0.0.1")]),
    ("53:53/udp", [PortMapping(53, 53, "udp")]),
    ("3000:8080", [PortMapping(8080, 3000)]),
    ("[::1]:9090:9090", [PortMapping(9090, 9090, "tcp", "::1")]),
    ("9000", [PortMapping(9000, None)]),
    (9000, [PortMapping(9000, None)]),
    ("8000-8001:9000-9001", [PortMapping(9000, 8000), PortMapping(9001, 8001)]),
    ({"target": 8080, "published": "3000", "protocol": "tcp"}, [PortMapping(8080, 3000)]),
    ({"target": 53, "published": 53, "protocol": "udp", "host_ip": "198.51.100.10"},
     [PortMapping(53, 53, "udp", "198.51.100.10")]),
], ids=["plain", "host-ip", "udp", "remapped", "ipv6", "container-only", "int", "range", "long", "long-udp"])
def test_parse_port(spec: object, expected: list[PortMapping]) -> None:
    """Short and long port syntax parse to published/target/protocol/host_ip."""
    assert parse_port(spec) == expected


@pytest.mark.parametrize("spec", ["80:80/icmp", "a:80", "1:2:3:4", "70000:80", "${PORT}:80", {"published": 80}],
                         ids=["protocol", "letters", "too-many", "range", "variable", "long-no-target"])
def test_parse_port_rejects(spec: object) -> None:
    """Malformed ports raise ValueError instead of being misread."""
    with pytest.raises(ValueError, match=r"."):
        parse_port(spec)


@pytest.mark.parametrize(("spec", "expected"), [
    ("/var/run/docker.sock:/var/run/docker.sock:ro", Mount("bind", "/var/run/docker.sock", "/var/run/docker.sock",
                                                          True)),
    ("data:/data", Mount("volume", "data", "/data", False)),
    ("/:/host:ro,rslave", Mount("bind", "/", "/host", True)),
    ("/cache", Mount("volume", None, "/cache", False)),
    ("${DIR:-/opt/homelab}/x:/etc/x:ro", Mount("bind", "${DIR:-/opt/homelab}/x", "/etc/x", True)),
    ({"type": "bind", "source": "/run/docker.sock", "target": "/var/run/docker.sock", "read_only": True},
     Mount("bind", "/run/docker.sock", "/var/run/docker.sock", True)),
], ids=["socket-ro", "named", "rootfs", "anonymous", "variable-default", "long"])
def test_parse_volume(spec: object, expected: Mount) -> None:
    """Short and long volume syntax parse to type/source/target/read-only, `${VAR:-x}` colons included."""
    assert parse_volume(spec) == expected


@pytest.mark.parametrize(("source", "socket"), [
    ("/var/run/docker.sock", True), ("/run/docker.sock", True), ("/var/run", True), ("/run/", True),
    ("/srv/podman/docker.sock", True), ("/var/lib/docker", False), ("/", False),
])
def test_socket_detection(source: str, socket: bool) -> None:
    """The socket, or a directory that holds it, counts as a Docker socket mount."""
    assert Mount("bind", source, "/x").docker_socket is socket


@pytest.mark.parametrize(("text", "names"), [
    ("${A}", ["A"]), ("$A and ${B:-x}", ["A", "B"]), ("${C:?set C}", ["C"]), ("$$HOME and $${D}", []),
    ("${E:-${F}}", ["E", "F"]), ("${G-x}${H?e}${I:+y}", ["G", "H", "I"]), ("no vars", []),
])
def test_variable_references(text: str, names: list[str]) -> None:
    """Compose interpolation forms are found; `$$` is an escape, not a reference."""
    assert variable_references(text) == names


@pytest.mark.parametrize("text", ["$", "cost: $5", "${}", "${A", "${1A}"])
def test_variable_references_reject(text: str) -> None:
    """A `$` that compose would refuse raises instead of being ignored."""
    with pytest.raises(ValueError, match="interpolation"):
        variable_references(text)


def test_duplicate_key_error_is_one_line(tmp_path: Path) -> None:
    """load_compose reports a duplicate key as one line with file and line number."""
    path = tmp_path / "compose.yaml"
    path.write_text("services:\n  a:\n    image: x:1\n  a:\n    image: x:2\n", encoding="utf-8")
    with pytest.raises(ComposeError) as caught:
        load_compose(path)
    assert str(caught.value).startswith(f"{path}:4: ")
    assert "\n" not in str(caught.value)


# -- the static specs describe themselves as every spec does ----------------------------------------------------

STATIC_ID = re.compile(r"^S-(STACK|SVC|INV|GIT|MON)-\d{3}$")


def _static_specs() -> dict[str, tuple[str, dict[str, object]]]:
    """test function name -> (spec id, the marker's keywords), from every module of tests/static."""
    found: dict[str, tuple[str, dict[str, object]]] = {}
    for path in sorted((ROOT / "tests/static").glob("test_*.py")):
        spec = importlib.util.spec_from_file_location(f"static_{path.stem}", path)
        assert spec is not None
        assert spec.loader is not None
        module = importlib.util.module_from_spec(spec)
        spec.loader.exec_module(module)
        for name, function in vars(module).items():
            if name.startswith("test_") and callable(function):
                marks = [m for m in getattr(function, "pytestmark", []) if m.name == "spec"]
                assert len(marks) == 1, f"{path.name}::{name}: no @pytest.mark.spec(ID, severity=, fix=)"
                found[name] = (str(marks[0].args[0]), dict(marks[0].kwargs))
    return found


def test_static_specs_have_id_severity_and_fix() -> None:
    """Every static spec has an id S-AREA-NNN (unique), a severity the report knows, a fix, and a row in
    docs/stacks.md, so that the audit report shows no row without an id or with severity "none"."""
    specs = _static_specs()
    assert len(specs) >= 22
    ids = [spec_id for spec_id, _ in specs.values()]
    assert len(set(ids)) == len(ids), sorted(ids)
    documented = (ROOT / "docs/stacks.md").read_text(encoding="utf-8")
    for name, (spec_id, kwargs) in specs.items():
        assert STATIC_ID.match(spec_id), f"{name}: {spec_id}"
        assert kwargs.get("severity") in SEVERITIES, f"{name}: severity {kwargs.get('severity')!r}"
        assert str(kwargs.get("fix") or "").strip(), f"{name}: no fix"
        assert f"| {spec_id} | `{name}" in documented, f"docs/stacks.md has no row for {spec_id} ({name})"


# -- end to end: the real spec modules fail on a broken checkout --------------------------------------------

def test_specs_fail_on_broken_checkout(pytester: pytest.Pytester) -> None:
    """Running tests/static on a copy with a `latest` image fails exactly test_image_pinned[platform/portainer]."""
    root = pytester.path
    shutil.copytree(ROOT / "tests/static", root / "tests/static", ignore=shutil.ignore_patterns("__pycache__"))
    shutil.copy(ROOT / "pyproject.toml", root / "pyproject.toml")
    _copy_repo(root)
    edit(compose_path(root, "platform"), "portainer/portainer-ce:2.23.0", "portainer/portainer-ce:latest")
    result = pytester.runpytest_subprocess("-p", "no:cacheprovider", "--noconftest", f"--rootdir={root}",
                                           "-m", "static", "-q", "tests/static")
    outcomes = result.parseoutcomes()
    assert outcomes.get("failed") == 1, result.stdout.str()
    assert outcomes.get("passed", 0) > 100
    result.stdout.fnmatch_lines(["FAILED tests/static/test_services.py::test_image_pinned[[]platform/portainer[]]*"])
