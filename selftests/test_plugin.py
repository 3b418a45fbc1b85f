"""The spec plugin, run through pytester on a small project of its own: selection, ids, host-down policy."""

from __future__ import annotations

import socket
import textwrap
from pathlib import Path

import pytest
from spec_project import INI, closed_port, inventory_text

SPECS = '''\
import pytest

pytestmark = pytest.mark.phase1


@pytest.mark.spec("P1-T-001", severity="high", fix="start sshd on the host")
@pytest.mark.each("host", role="platform")
def test_ssh_answers(host, on):
    """The platform VM answers SSH."""
    on(host)


@pytest.mark.spec("P1-T-002", severity="medium", fix="install docker")
@pytest.mark.each("host", role="platform")
def test_docker_present(host, on):
    """Docker is installed on the platform VM."""
    assert on(host).infra.exists("docker")


@pytest.mark.spec("P1-T-003", severity="low", fix="none")
@pytest.mark.each("instance", stack="platform")
def test_instance_ids(instance):
    """Each platform service has an instance."""
    assert instance.host.role == "platform"
'''

EDGE_SPECS = '''\
import pytest

pytestmark = pytest.mark.phase2


@pytest.mark.spec("P3-T-001", severity="high", fix="switch it on")
@pytest.mark.each("host", role="edge")
def test_worker_answers(host, on):
    """The GPU worker answers SSH."""
    on(host)
'''


@pytest.fixture
def project(pytester: pytest.Pytester) -> pytest.Pytester:
    """A mini homelab repo: an inventory whose hosts are closed local ports, and a few specs."""
    pytester.makefile(".ini", pytest=INI)
    (pytester.path / "inventory.yaml").write_text(inventory_text(closed_port()))
    (pytester.path / "key").write_text("not a real key: the connection is refused before it is read\n")
    (pytester.path / "tests").mkdir()
    (pytester.path / "tests" / "test_platform.py").write_text(SPECS)
    (pytester.path / "tests" / "test_edge.py").write_text(EDGE_SPECS)
    return pytester


def test_marker_selects_exactly_one_phase(project: pytest.Pytester) -> None:
    """`-m phase1` collects the phase 1 specs and nothing else."""
    result = project.runpytest("--collect-only", "-q", "-m", "phase1", "tests")
    result.stdout.fnmatch_lines(["*test_platform.py::test_ssh_answers[[]platform[]]"])
    assert "test_edge" not in result.stdout.str()
    assert result.ret == 0


def test_ids_are_inventory_names(project: pytest.Pytester) -> None:
    """Parameters are named after hosts and services, so the report reads as a checklist."""
    result = project.runpytest("--collect-only", "-q", "tests")
    result.stdout.fnmatch_lines([
        "*test_worker_answers[[]gaming-pc-1[]]",
        "*test_ssh_answers[[]platform[]]",
        "*test_instance_ids[[]portainer@platform[]]",
        "*test_instance_ids[[]npm@platform[]]",
    ])
    assert not (project.path / "reports").exists(), "collecting wrote a report"


def test_target_and_source_ids(project: pytest.Pytester) -> None:
    """`each("host")` with `each("source")` is one test per host and source, `HOST<-SOURCE`, never from itself."""
    (project.path / "tests" / "test_pairs.py").write_text(
        "import pytest\n\n@pytest.mark.each('host', role='platform')\n@pytest.mark.each('source')\n"
        "def test_pair(host, source):\n    pass\n")
    result = project.runpytest("--collect-only", "-q", "tests/test_pairs.py")
    ids = [line.split("[", 1)[1].rstrip("]") for line in result.stdout.lines if "test_pair[" in line]
    assert "platform<-runner" in ids
    assert "platform<-gaming-pc-1" in ids
    assert "platform<-platform" not in ids
    assert result.ret == 0


def test_collect_only_makes_no_connection(project: pytest.Pytester, monkeypatch: pytest.MonkeyPatch) -> None:
    """Collecting specs never opens a connection: it works with no host reachable."""
    def forbidden(*args: object, **kwargs: object) -> None:
        raise AssertionError("a connection was attempted during collection")

    monkeypatch.setattr(socket.socket, "connect", forbidden)
    result = project.runpytest_inprocess("--collect-only", "-q", "tests")
    assert result.ret == 0
    result.stdout.fnmatch_lines(["5 tests collected*"])


def test_broken_inventory_is_one_usage_error(project: pytest.Pytester) -> None:
    """A broken inventory stops pytest at start with one line naming file and field, no traceback."""
    inv = project.path / "inventory.yaml"
    inv.write_text(inv.read_text().replace("address: 127.0.0.2", "address: 127.0.0.300"))
    result = project.runpytest("tests")
    assert result.ret == pytest.ExitCode.USAGE_ERROR
    errors = [line for line in result.stderr.lines if line.startswith("ERROR:")]
    assert len(errors) == 1
    assert "inventory.yaml:" in errors[0]
    assert "hosts.gaming-pc-1.address" in errors[0]
    assert "Traceback" not in result.stdout.str() + result.stderr.str()


def test_empty_parameter_set_fails_at_collection(project: pytest.Pytester) -> None:
    """A spec whose inventory selection is empty is an error, never a silent pass."""
    (project.path / "tests" / "test_empty.py").write_text(
        "import pytest\n\n@pytest.mark.each('host', role='agent')\ndef test_agents(host):\n    pass\n")
    result = project.runpytest("tests/test_empty.py")
    assert result.ret == pytest.ExitCode.INTERRUPTED
    assert "Empty parameter set" in result.stdout.str()


def test_down_host_fails_once_then_skips(project: pytest.Pytester) -> None:
    """An always-on host that is down gives one failure naming it; its other specs skip, pointing there."""
    result = project.runpytest("-m", "phase1", "-rs", "tests", "--no-reports")
    result.assert_outcomes(failed=1, skipped=1, passed=2)
    out = result.stdout.str()
    assert "platform (admin@127.0.0.1" in out
    assert "cannot connect" in out
    assert "platform is unreachable: see the failure of tests/test_platform.py::test_ssh_answers[platform]" in out


def test_on_demand_host_off_skips(project: pytest.Pytester) -> None:
    """An on-demand worker that is off is reported as off, not as a failure."""
    result = project.runpytest("-m", "phase2", "-rs", "tests", "--no-reports")
    result.assert_outcomes(skipped=1)
    assert "on-demand host is off: gaming-pc-1" in result.stdout.str()


def test_spec_run_writes_reports_with_audit_columns(project: pytest.Pytester) -> None:
    """A spec run writes reports/report.html and reports/junit.xml carrying id, requirement and fix."""
    project.runpytest("-m", "phase1", "tests")
    html = (project.path / "reports" / "report.html").read_text()
    junit = (project.path / "reports" / "junit.xml").read_text()
    for text in ("P1-T-001", "The platform VM answers SSH.", "start sshd on the host", "Homelab compliance report"):
        assert text in html
    assert 'name="spec_id" value="P1-T-001"' in junit
    assert 'name="remediation" value="start sshd on the host"' in junit


def test_planted_secret_never_shown(project: pytest.Pytester) -> None:
    """A secret planted in .env appears in no output: terminal, HTML report, JUnit."""
    planted = "pl4nted-s3cret-value-0042"
    (project.path / ".env").write_text(f"PLANTED_TOKEN={planted}\n")
    (project.path / "tests" / "test_leak.py").write_text(textwrap.dedent('''\
        import logging
        import pytest

        pytestmark = pytest.mark.phase1

        @pytest.mark.spec("P1-T-009", severity="high", fix="never print secrets")
        @pytest.mark.each("host", role="platform")
        def test_leaks(host, secrets):
            """A careless spec that prints, logs and asserts on a secret."""
            value = secrets.get("PLANTED_TOKEN")
            print("token is", value)
            logging.getLogger("spec").warning("token %s", value)
            assert value == "something else", f"token {value} was wrong"
        '''))
    result = project.runpytest("tests/test_leak.py", "-rA")
    outputs = {
        "terminal": result.stdout.str() + result.stderr.str(),
        "report.html": (project.path / "reports" / "report.html").read_text(),
        "junit.xml": (project.path / "reports" / "junit.xml").read_text(),
    }
    result.assert_outcomes(failed=1)
    for name, text in outputs.items():
        assert planted not in text, f"the planted secret leaked into {name}"
        assert "********" in text, f"{name} does not show the masked value"


def test_missing_secret_names_variable_and_file(project: pytest.Pytester) -> None:
    """A missing secret names the variable and the file to put it in."""
    (project.path / "tests" / "test_secret.py").write_text(textwrap.dedent('''\
        import pytest
        pytestmark = pytest.mark.phase1
        def test_needs_secret(secrets):
            secrets.get("PLANTED_TOKEN")
        '''))
    result = project.runpytest("tests/test_secret.py", "--no-reports")
    result.assert_outcomes(failed=1)
    assert f"secret PLANTED_TOKEN is not set: add `PLANTED_TOKEN=...` to {Path(project.path) / '.env'}" in (
        result.stdout.str())
