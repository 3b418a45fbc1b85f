"""A secret never reaches any output, in any form: the terminal (`-s`, tee-sys, capsys.disabled()), live and
captured logs, the log file, warnings, assertion text, JUnit, pytest-html, report.html, results.json, and
bootstrap's output; and a value too short to be masked is refused."""

from __future__ import annotations

import base64
import html
import inspect
import json
import logging
import re
import socket
import subprocess
import sys
import threading
import urllib.parse
from collections.abc import Iterator
from ipaddress import IPv4Address
from pathlib import Path
from types import SimpleNamespace

import pytest
from spec_project import INI, closed_port, inventory_text

from homelab.model.inventory import Settings
from homelab.model.paths import REPO
from homelab.model.redact import MASK, REDACTOR, RedactingStream, basic_auth
from homelab.model.secrets import SecretError, Secrets
from homelab.transport.ssh import SSHError, connect

ROOT = REPO

# Every character class an encoder changes: a space, quotes, a slash, a plus, an ampersand.
PLANTED = 'pl4nted "s3cret"/value+0042&ok'


def derived(value):  # also the source of the same function in the spec below
    """The forms a secret takes on its way out: base64 (standard and URL-safe, padded or not, and inside the
    Basic auth header of users whose names put it at each of the three byte offsets), URL-encoded,
    JSON- and HTML-escaped."""
    import base64
    import html
    import json
    import urllib.parse

    raw = value.encode()
    forms = [value, json.dumps(value)[1:-1], html.escape(value), urllib.parse.quote(value),
             urllib.parse.quote(value, safe=""), urllib.parse.quote_plus(value)]
    for encode in (base64.b64encode, base64.urlsafe_b64encode):
        forms += [encode(raw).decode(), encode(raw).decode().rstrip("=")]
        forms += [encode(f"{user}:{value}".encode()).decode() for user in ("bob", "kuma", "admin")]
    return forms


SPEC = f'''\
import logging
import sys
import warnings

import pytest

pytestmark = pytest.mark.phase1

{inspect.getsource(derived)}

@pytest.mark.spec("P1-R-001", severity="high", fix="never show a secret")
@pytest.mark.each("host", role="platform")
def test_shows_the_secret(host, secrets, capsys):
    """A careless spec that shows a secret on every channel."""
    value = secrets.get("PLANTED_TOKEN")
    forms = derived(value)
    print("stdout:", *forms)
    print("stderr:", *forms, file=sys.stderr)
    log = logging.getLogger("careless")
    log.debug("debug: %s", forms)
    log.warning("warning: %s", forms)
    try:
        raise ValueError(forms)
    except ValueError:
        log.exception("exception: %s", value)
    warnings.warn(f"warned: {{forms}}")
    with capsys.disabled():
        print("disabled:", *forms)
    assert False, f"asserted: {{forms}}"


@pytest.mark.spec("P1-R-002", severity="low", fix="none")
@pytest.mark.each("host", role="platform")
def test_capture_still_works(host, secrets, capsys):
    """What a spec prints is captured as printed (capture lies under the masking)."""
    value = secrets.get("PLANTED_TOKEN")
    print(value)
    assert capsys.readouterr().out == value + "\\n"
'''


@pytest.fixture
def project(pytester: pytest.Pytester) -> pytest.Pytester:
    pytester.makefile(".ini", pytest=INI)
    (pytester.path / "inventory.yaml").write_text(inventory_text(closed_port()))
    (pytester.path / "key").write_text("not a real key: the connection is refused before it is read\n")
    (pytester.path / ".env").write_text(f"PLANTED_TOKEN={PLANTED}\n")
    (pytester.path / "tests").mkdir()
    (pytester.path / "tests" / "test_careless.py").write_text(SPEC)
    return pytester


def base64_leaks(text: str, secret: str) -> list[str]:
    """Base64 runs of `text` that decode, at any alignment, to 6 or more bytes of `secret` in a row."""
    windows = [secret.encode()[i:i + 6] for i in range(len(secret) - 5)]
    found = []
    for token in re.findall(r"[A-Za-z0-9+/_-]{8,}", text):
        for start in range(4):
            chunk = token[start:]
            chunk = chunk[:len(chunk) // 4 * 4]
            decoded = base64.b64decode(chunk.replace("-", "+").replace("_", "/"))
            if any(w in decoded for w in windows):
                found.append(token)
    return found


def readings(text: str) -> dict[str, str]:
    """`text` as a reader could decode it: HTML entities, backslash escapes (twice), URL encoding."""
    unslashed = text
    for _ in range(2):
        unslashed = unslashed.replace("\\\\", "\\").replace('\\"', '"').replace("\\'", "'")
    return {"as is": text, "HTML-unescaped": html.unescape(text), "unescaped": unslashed,
            "URL-decoded": urllib.parse.unquote(text), "form-decoded": urllib.parse.unquote_plus(text)}


def assert_nowhere(outputs: dict[str, str]) -> None:
    for name, text in outputs.items():
        for form in derived(PLANTED):
            assert form not in text, f"{name} shows the secret as {form!r}"
        for how, reading in readings(text).items():
            assert PLANTED not in reading, f"{name}, {how}, shows the secret"
        assert not base64_leaks(text, PLANTED), f"{name} shows the secret in base64: {base64_leaks(text, PLANTED)}"


def outputs_of(project: pytest.Pytester, result: pytest.RunResult) -> dict[str, str]:
    files = {str(p.relative_to(project.path)): p.read_text(errors="replace")
             for folder in ("reports", "out") if (project.path / folder).exists()
             for p in (project.path / folder).rglob("*") if p.is_file()}
    return {"stdout": result.stdout.str(), "stderr": result.stderr.str(), **files}


@pytest.mark.parametrize("args", [
    ["-s"],
    ["--log-cli-level=DEBUG"],
    ["--capture=tee-sys"],
    ["--junitxml=out/junit.xml", "-o", "junit_logging=all", "--html=reports/details.html",
     "--log-file=out/pytest.log", "--log-file-level=DEBUG", "-rA", "-l"],
], ids=["no-capture", "live-logs", "tee-sys", "files"])
def test_secret_in_no_output(project: pytest.Pytester, args: list[str]) -> None:
    """A spec that prints, logs, warns and asserts the secret and its derived forms: none of them reaches the
    terminal or a file, and what was shown is there, masked."""
    result = project.runpytest_subprocess("tests", *args)
    result.assert_outcomes(failed=1, passed=1, warnings=1)
    outputs = outputs_of(project, result)
    assert {"reports/report.html", "reports/results.json"} <= set(outputs)
    assert "reports/junit.xml" in outputs or "out/junit.xml" in outputs
    assert_nowhere(outputs)
    terminal = outputs["stdout"]
    assert f"disabled: {MASK}" in terminal, terminal  # capsys.disabled() writes to the terminal
    assert f"warned: ['{MASK}'" in terminal  # the warnings summary
    assert f"asserted: ['{MASK}'" in terminal
    if "-s" in args or "--capture=tee-sys" in args:
        assert f"stdout: {MASK}" in terminal
        assert f"stderr: {MASK}" in outputs["stderr"]
    if "--log-cli-level=DEBUG" in args:
        assert f"debug: ['{MASK}'" in terminal
        assert f"ValueError: ['{MASK}'" in terminal  # the logged traceback
    if "out/pytest.log" in outputs:
        assert f"debug: ['{MASK}'" in outputs["out/pytest.log"]
    if "out/junit.xml" in outputs:
        assert f"warning: [&apos;{MASK}&apos;" in outputs["out/junit.xml"] or f"warning: ['{MASK}'" in (
            outputs["out/junit.xml"])
    assert f"asserted: [&#x27;{MASK}&#x27;" in outputs["reports/report.html"]


def test_masking_is_undone_after_the_run(project: pytest.Pytester) -> None:
    """An in-process run leaves sys.stdout, sys.stderr and logging as it found them."""
    streams, factory = (sys.stdout, sys.stderr), logging.getLogRecordFactory()
    result = project.runpytest_inprocess("tests", "-s", "--no-reports")
    result.assert_outcomes(failed=1, passed=1, warnings=1)
    assert (sys.stdout, sys.stderr) == streams
    assert not isinstance(sys.stdout, RedactingStream)
    assert logging.getLogRecordFactory() is factory
    assert_nowhere({"stdout": result.stdout.str(), "stderr": result.stderr.str()})


# -- the redactor ------------------------------------------------------------------------------------------------
def test_every_derived_form_is_masked() -> None:
    """Each form of a registered value is masked as a whole, and a Basic auth header at any alignment."""
    secret = "d3rived/form s+cret&1"
    REDACTOR.add(secret)
    for form in derived(secret):
        masked = REDACTOR(f"<{form}>")
        assert MASK in masked, form
        assert form not in masked, form
        assert not base64_leaks(masked, secret), form
    assert REDACTOR(json.dumps({"password": secret})) == json.dumps({"password": MASK})
    body = json.dumps({"password": f'"{secret}"'})
    assert REDACTOR(repr(body)) == repr(json.dumps({"password": f'"{MASK}"'}))  # JSON in a repr: escaped twice
    assert REDACTOR(html.escape(f"<td>{secret}</td>")) == html.escape(f"<td>{MASK}</td>")
    assert REDACTOR(urllib.parse.urlencode({"pass": secret, "user": "x"})) == f"pass={MASK}&user=x"


def test_basic_auth_header_is_masked_whole() -> None:
    """`basic_auth(user, password)` registers the header's whole base64 too."""
    user, password = basic_auth("grafana-admin", "b4sic-auth-passw0rd")
    header = base64.b64encode(f"{user}:{password}".encode()).decode()
    assert REDACTOR(f"Authorization: Basic {header}") == f"Authorization: Basic {MASK}"


def test_short_values_are_not_registered() -> None:
    """A value under 8 characters would mask ordinary words: the redactor ignores it (the loader refuses it)."""
    REDACTOR.add("admin")
    assert REDACTOR("the admin user") == "the admin user"


# -- short secrets -----------------------------------------------------------------------------------------------
def test_short_secret_in_env_file_is_refused(tmp_path: Path) -> None:
    """A value in .env shorter than 8 characters is refused, naming the secret and the file, never the value."""
    env = tmp_path / ".env"
    env.write_text("LONG_ENOUGH=eight-chars-or-more\nAGENT_SECRET=hunter2\nEMPTY=\nREF=op://v/i/f\n")
    with pytest.raises(SecretError) as info:
        Secrets({"AGENT_SECRET": ""}, env, environ={})
    assert str(info.value) == (f"secret AGENT_SECRET in {env} is 7 characters long; a secret needs at least 8, "
                               "or it cannot be masked in output without masking ordinary text: use a longer value")
    assert "hunter2" not in str(info.value)


def test_short_secret_in_environment_is_refused(tmp_path: Path) -> None:
    secrets = Secrets({"TOKEN": ""}, tmp_path / ".env", environ={"TOKEN": "abc"})
    with pytest.raises(SecretError, match=r"^secret TOKEN in the environment is 3 characters long; "):
        secrets.get("TOKEN")


def test_short_secret_stops_a_spec_run(project: pytest.Pytester) -> None:
    """A spec run with a short secret stops before any spec runs, with the one error line."""
    (project.path / ".env").write_text("PLANTED_TOKEN=short\n")
    result = project.runpytest("tests")
    assert result.ret == pytest.ExitCode.USAGE_ERROR
    assert (f"ERROR: secret PLANTED_TOKEN in {project.path / '.env'} is 5 characters long; a secret needs at "
            "least 8") in result.stderr.str()


# -- bootstrap ---------------------------------------------------------------------------------------------------
def test_bootstrap_output_is_masked(tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                    capsys: pytest.CaptureFixture[str]) -> None:
    """Whatever a step prints, on stdout or stderr, in any form, bootstrap shows masked."""
    import bootstrap.__main__ as cli
    from bootstrap.steps import Step

    (tmp_path / "inventory.yaml").write_text(inventory_text(closed_port()))
    (tmp_path / "key").write_text("not a real key\n")
    (tmp_path / ".env").write_text(f"PLANTED_TOKEN={PLANTED}\n")

    def careless(secrets: Secrets) -> bool:
        forms = derived(secrets.get("PLANTED_TOKEN"))
        print("step says:", *forms)
        print("step warns:", *forms, file=sys.stderr)
        return False

    monkeypatch.setitem(cli.PHASES, "phase1", lambda inventory, secrets, access: [
        Step("print the secret", "platform", lambda: careless(secrets), lambda: None)])
    assert cli.main(["phase1", "--inventory", str(tmp_path / "inventory.yaml"), "--dry-run"]) == 0
    out, err = capsys.readouterr()
    assert f"step says: {MASK}" in out
    assert f"step warns: {MASK}" in err
    assert "would    platform: print the secret" in out
    assert_nowhere({"stdout": out, "stderr": err})
    assert not isinstance(sys.stdout, RedactingStream)



# -- paramiko's tracebacks ---------------------------------------------------------------------------------------
@pytest.fixture(params=["holds", "closes"])
def junk_port(request: pytest.FixtureRequest) -> Iterator[int]:
    """A local port whose server answers an SSH banner, then junk; it then holds the connection, or closes it."""
    server = socket.create_server(("127.0.0.1", 0))
    held: list[socket.socket] = []

    def serve() -> None:
        while True:
            try:
                conn, _ = server.accept()
            except OSError:
                return
            conn.sendall(b"SSH-2.0-junk\r\n" + b"\x00\xff" * 512)
            if request.param == "holds":
                held.append(conn)
            else:
                conn.close()

    threading.Thread(target=serve, daemon=True).start()
    yield int(server.getsockname()[1])
    server.close()
    for conn in held:
        conn.close()


CONNECT = """\
import sys
from ipaddress import IPv4Address
from types import SimpleNamespace

from homelab.model.inventory import Settings
from homelab.transport.ssh import SSHError, connect

ssh = SimpleNamespace(port=int(sys.argv[1]), user="admin", key=None, host_key=None)
try:
    connect(SimpleNamespace(name="junk", address=IPv4Address("127.0.0.1"), ssh=ssh), Settings(connect_timeout=3))
except SSHError as exc:
    print(exc)
"""


def test_a_junk_ssh_server_is_one_line(junk_port: int) -> None:
    """A port that speaks no SSH is one line naming the host, and paramiko prints no traceback on stderr."""
    done = subprocess.run([sys.executable, "-c", CONNECT, str(junk_port)], capture_output=True, text=True,
                          timeout=60, cwd=ROOT, check=False)
    assert done.returncode == 0, done.stderr
    assert "Traceback" not in done.stderr
    assert done.stderr == ""
    assert done.stdout.startswith(f"junk (admin@127.0.0.1:{junk_port}): ")
    assert done.stdout.count("\n") == 1, done.stdout


def test_paramiko_logs_no_error_records(junk_port: int, caplog: pytest.LogCaptureFixture) -> None:
    """Within a spec run the same failure leaves no paramiko ERROR records (its tracebacks) in the captured log."""
    caplog.set_level(logging.DEBUG)
    ssh = SimpleNamespace(port=junk_port, user="admin", key=None, host_key=None)
    with pytest.raises(SSHError):
        connect(SimpleNamespace(name="junk", address=IPv4Address("127.0.0.1"), ssh=ssh), Settings(connect_timeout=3))
    assert [r for r in caplog.records if r.name.startswith("paramiko") and r.levelno >= logging.ERROR] == []
    assert "Traceback" not in caplog.text
