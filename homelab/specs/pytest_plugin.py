"""The pytest plugin behind the specs: inventory options, per-transport clients, parametrization, reports.

Specs ask for what they check against with `@pytest.mark.each("host", role="agent")` and describe
themselves with `@pytest.mark.spec("P2-FW-001", severity="high", fix="...")` plus a docstring.

Longer than 300 lines because pytest loads the plugin as the one module the pytest11 entry point names, and its
options, configuration, parametrization, fixtures, output masking and report hooks all work on the same run state in
the config's stash (inventory, secrets, host access, audit, probes).
"""

from __future__ import annotations

import datetime
import logging
import os
import sys
import threading
from collections.abc import Generator, Iterator, Sequence
from pathlib import Path
from typing import Any

import pytest

from homelab.clients.connect import NotInInventory
from homelab.model import redact
from homelab.model.inventory import Inventory
from homelab.model.inventory_loader import InventoryError, load_inventory
from homelab.model.redact import REDACTOR
from homelab.model.secrets import SecretError, Secrets
from homelab.model.waivers import WaiverError, Waivers, load_waivers
from homelab.report import columns
from homelab.report.audit import Audit, WaiverExpired
from homelab.specs.onhost import Hosts, On
from homelab.specs.targets import KINDS, select
from homelab.transport.hostaccess import HostAccess
from homelab.transport.ssh import as_root

INVENTORY = pytest.StashKey[Inventory]()
SECRETS = pytest.StashKey[Secrets]()
ACCESS = pytest.StashKey[HostAccess]()
AUDIT = pytest.StashKey[Audit]()
PROBES = pytest.StashKey[Any]()  # homelab.checks.reach.PhaseProbes, imported on first use
SPECS_DIR = "tests"
PATH_OPTIONS = ("--inventory", "--env-file", "--waivers", "--report-dir")


def pytest_addoption(parser: pytest.Parser) -> None:
    group = parser.getgroup("homelab", "homelab inventory")
    group.addoption("--inventory", default=os.environ.get("HOMELAB_INVENTORY", "inventory.yaml"),
                    help="the inventory to check (default: inventory.yaml, or $HOMELAB_INVENTORY)")
    group.addoption("--env-file", default=os.environ.get("HOMELAB_ENV_FILE"),
                    help="the .env file with secret values (default: the inventory's settings.env_file)")
    group.addoption("--waivers", default=os.environ.get("HOMELAB_WAIVERS"),
                    help="accepted exceptions (default: waivers.yaml beside the inventory, if there is one)")
    group.addoption("--report-dir", default=os.environ.get("HOMELAB_REPORT_DIR", "reports"),
                    help="where a spec run writes report.html, results.json, history/, compliance.prom and "
                         "junit.xml (default: reports, or $HOMELAB_REPORT_DIR)")
    group.addoption("--no-reports", action="store_true", help="write no report files")


def _joined(args: Sequence[str]) -> list[str] | None:
    """`args` with each `--inventory PATH` (and the other path options) joined into `--inventory=PATH`; None when
    none is split. pytest chooses its rootdir and ini file before any plugin's options exist, so it takes the PATH
    of a split option for a test path: one outside the repository moves the rootdir there, and pyproject.toml
    (testpaths, addopts) is never read. The joined form is one option that pytest leaves alone."""
    joined: list[str] = []
    split = False
    words = iter(args)
    for word in words:
        if word == "--":  # what follows are test paths, whatever they look like
            joined += [word, *words]
        elif word in PATH_OPTIONS and (value := next(words, None)) is not None:
            joined.append(f"{word}={value}")
            split = True
        else:
            joined.append(word)
    return joined if split else None


@pytest.hookimpl(tryfirst=True)
def pytest_cmdline_main(config: pytest.Config) -> int | pytest.ExitCode | None:
    """`pytest --inventory PATH` (the split form) runs as `pytest --inventory=PATH`: the same run, its rootdir
    and pyproject.toml chosen as they would be without the option (see _joined)."""
    args = _joined(config.invocation_params.args)
    if args is None:
        return None
    return pytest.main(args, plugins=list(config.invocation_params.plugins or ()))


def _runs_specs(config: pytest.Config) -> bool:
    """True when every path of this run lies under tests/ (a spec run, not the project's own tests)."""
    specs = (config.rootpath / SPECS_DIR).resolve()
    paths = [Path(str(a).split("::")[0]) for a in config.args]
    resolved = [(p if p.is_absolute() else config.invocation_params.dir / p).resolve() for p in paths]
    return bool(resolved) and all(p == specs or specs in p.parents for p in resolved)


@pytest.hookimpl(tryfirst=True)
def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line("markers", "spec(id, severity, fix): the spec's stable id, severity and remediation")
    config.addinivalue_line("markers", f"each(kind, **filters): parametrize from the inventory; kind in {KINDS}")
    config.addinivalue_line("markers", "reads(*commands, root=False): commands the spec runs on its `host`, read "
                                       "for every selected host at once as the run starts")
    if not _runs_specs(config):
        return
    path = Path(config.option.inventory)
    if not path.is_absolute():
        path = config.invocation_params.dir / path
    try:
        inventory = load_inventory(path)
        secrets = _secrets(config, inventory)
        waivers = _waivers(config, inventory)
    except (InventoryError, SecretError, WaiverError) as exc:
        raise pytest.UsageError(str(exc)) from None
    config.stash[INVENTORY] = inventory
    config.stash[SECRETS] = secrets
    config.pluginmanager.register(Masking(config), "homelab-masking")
    access = config.stash[ACCESS] = HostAccess(inventory)
    directory = None
    if not (config.option.no_reports or config.option.collectonly or hasattr(config, "workerinput")):
        directory = config.rootpath / config.option.report_dir
        columns.enable_files(config, directory, inventory)
    audit = config.stash[AUDIT] = Audit(config, inventory, access, waivers, directory)
    config.pluginmanager.register(audit, "homelab-audit")


def _secrets(config: pytest.Config, inventory: Inventory) -> Secrets:
    """--env-file PATH (or $HOMELAB_ENV_FILE), which must exist; else the inventory's settings.env_file."""
    given = config.option.env_file
    if not given:
        return Secrets(inventory.secrets, inventory.settings.env_file)
    return Secrets(inventory.secrets, config.invocation_params.dir / Path(given).expanduser(), required=True)


def _waivers(config: pytest.Config, inventory: Inventory) -> Waivers:
    """--waivers PATH, else waivers.yaml beside the inventory if it exists; expired ones are warned about."""
    given = config.option.waivers
    path = config.invocation_params.dir / given if given else inventory.path.parent / "waivers.yaml"
    if not given and not path.is_file():
        return Waivers()
    waivers = load_waivers(path, datetime.date.today())
    for waiver in waivers.expired:
        config.issue_config_time_warning(WaiverExpired(
            f"{waiver.where}: the waiver of {waiver.spec} expired on {waiver.expires}: ignored; renew it "
            "(a new `expires`, approved again) or fix the failure"), stacklevel=2)
    return waivers


def pytest_unconfigure(config: pytest.Config) -> None:
    access = config.stash.get(ACCESS, None)
    if access is not None:
        access.close()


def pytest_generate_tests(metafunc: pytest.Metafunc) -> None:
    markers = list(metafunc.definition.iter_markers("each"))
    if not markers:
        return
    inventory = metafunc.config.stash.get(INVENTORY, None)
    if inventory is None:
        raise pytest.UsageError(f"{metafunc.definition.nodeid}: specs run only from {SPECS_DIR}/ with an inventory")
    if len(markers) == 1:
        kind = markers[0].args[0]
        params, ids = select(inventory, kind, dict(markers[0].kwargs))
        if not params and kind == "gitstack":  # `git.deploy: direct`: a choice the report lists (homelab.report.risks)
            metafunc.parametrize(kind, [pytest.param(None, marks=pytest.mark.skip(
                reason="the inventory has Portainer deploy no stack from Git (git.deploy: direct, or no `git:`): "
                       "bootstrap deploys every stack itself, an accepted risk the report lists"))], ids=["none"])
            return
        metafunc.parametrize(kind, _phased(metafunc, params), ids=ids)
        return
    # Two: a target and the sources it is probed from (`each("host", ...)` + `each("source", ...)`), with ids
    # such as `unraid<-wan` ("unraid, as seen from wan"); a host is never probed from itself.
    try:
        (target,), (source,) = [[m for m in markers if (m.args[0] == "source") == is_source] for is_source in (0, 1)]
    except ValueError:
        raise pytest.UsageError(f"{metafunc.definition.nodeid}: two `each` markers must be a target and "
                                "`source`") from None
    targets, target_ids = select(inventory, target.args[0], dict(target.kwargs))
    found, found_ids = select(inventory, "source", dict(source.kwargs))
    pairs = [((t, s), f"{tid}<-{sid}") for t, tid in zip(targets, target_ids, strict=True)
             for s, sid in zip(found, found_ids, strict=True) if getattr(t, "name", None) != s.name]
    metafunc.parametrize(f"{target.args[0]},source", _phased(metafunc, [p for p, _ in pairs]),
                         ids=[i for _, i in pairs])


def _phased(metafunc: pytest.Metafunc, params: list[Any]) -> list[Any]:
    """A spec about every host with no phase marker of its own belongs to each target's phase (platform 1,
    agents 2, edge workers 3): `pytest -m phase2` then checks the agents, as the rollout reaches them."""
    if any(columns.PHASE.match(m.name) for m in metafunc.definition.iter_markers()):
        return params

    def phase_of(param: Any) -> int | None:
        first = param[0] if isinstance(param, tuple) else param
        phase = getattr(first, "phase", None)
        return phase if isinstance(phase, int) else None

    phased: list[Any] = []
    for param in params:
        phase = phase_of(param)
        values = param if isinstance(param, tuple) else (param,)
        phased.append(pytest.param(*values, marks=getattr(pytest.mark, f"phase{phase}")) if phase else param)
    return phased


# -- fixtures: one cached client per transport -------------------------------------------------------
@pytest.fixture(scope="session")
def inventory(pytestconfig: pytest.Config) -> Inventory:
    return pytestconfig.stash[INVENTORY]


@pytest.fixture(scope="session")
def secrets(pytestconfig: pytest.Config) -> Secrets:
    return pytestconfig.stash[SECRETS]


@pytest.fixture(scope="session")
def access(pytestconfig: pytest.Config) -> HostAccess:
    return pytestconfig.stash[ACCESS]


@pytest.fixture(scope="session")
def _hosts(access: HostAccess, pytestconfig: pytest.Config, request: pytest.FixtureRequest) -> Hosts:
    """The run's hosts for `on`. The first spec that acts on a host starts, in the background, reading every host's
    containers (one `docker inspect` per host) and making the selected specs' declared reads (`reads` marker),
    all hosts at once, unless the run is plain (the benchmark's baseline) or a selftest put a fake access in place."""
    if access is pytestconfig.stash.get(ACCESS, None) and not access.plain:
        threading.Thread(target=access.prefetch_engines, name="homelab-engines", daemon=True).start()
        reads = declared_reads(request.session.items)
        threading.Thread(target=access.prefetch_reads, args=(reads,), name="homelab-reads", daemon=True).start()
    return Hosts(access)


def declared_reads(items: list[pytest.Item]) -> dict[str, tuple[Any, list[str]]]:
    """The commands the selected specs declare they read on their host (`@pytest.mark.reads(COMMAND, root=True)`
    on a spec parametrized by `host`), as sent (through sudo for root), per host in the specs' order."""
    found: dict[str, tuple[Any, list[str]]] = {}
    for item in items:
        marker = item.get_closest_marker("reads")
        host = getattr(getattr(item, "callspec", None), "params", {}).get("host")
        if marker is None or host is None:
            continue
        commands = found.setdefault(host.name, (host, []))[1]
        for command in marker.args:
            sent = as_root(host.ssh.user, command) if marker.kwargs.get("root") else command
            if sent not in commands:
                commands.append(sent)
    return found


@pytest.fixture
def on(_hosts: Hosts, request: pytest.FixtureRequest) -> On:
    """`on(host)`: the one way a spec acts on a host (`homelab.specs.onhost`): the host-down policy first, then
    its commands (as root too), testinfra, Docker and gaming state; `on(host, gpu_stack=True)` and
    `on.service(instance)` apply the gaming policy as well."""
    return On(_hosts, request.node.nodeid)


@pytest.fixture(scope="session")
def http(inventory: Inventory) -> Iterator[Any]:
    """One httpx client: TLS verified against the inventory's CA bundle, every request bounded."""
    import ssl

    import httpx

    bundle = inventory.settings.ca_bundle
    verify: Any = ssl.create_default_context(cafile=str(bundle)) if bundle else True
    with httpx.Client(verify=verify, timeout=inventory.settings.connect_timeout * 3, follow_redirects=False) as c:
        yield c


@pytest.fixture(scope="session")
def resolver(inventory: Inventory) -> Any:
    """A dnspython resolver pinned to the inventory's DNS server (Technitium on the platform VM)."""
    import dns.resolver

    res = dns.resolver.Resolver(configure=False)
    technitium = inventory.services.get("technitium")
    hosts = inventory.hosts_of(technitium) if technitium else [inventory.platform_host]
    res.nameservers = [str(h.address) for h in hosts]
    res.lifetime = inventory.settings.connect_timeout
    res.timeout = inventory.settings.connect_timeout
    return res


def _probes(config: pytest.Config) -> Any:
    if PROBES not in config.stash:
        from homelab.checks.reach import PhaseProbes

        access = config.stash[ACCESS]
        config.stash[PROBES] = PhaseProbes(config.stash[INVENTORY], access.ssh, plain=access.plain)
    return config.stash[PROBES]


@pytest.hookimpl(trylast=True)
def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    """Specs that read the sweep run last, so that everything else runs while its probes wait (the report
    orders checks by phase and id, not by when they ran)."""
    if INVENTORY in config.stash and not config.stash[ACCESS].plain:
        items.sort(key=lambda item: "reachability" in getattr(item, "fixturenames", ()))


def pytest_collection_finish(session: pytest.Session) -> None:
    """Start the sweep in the background now: its timeouts pass while other specs run."""
    config = session.config
    if INVENTORY not in config.stash or config.option.collectonly or config.stash[ACCESS].plain:
        return
    used = {name for item in session.items for name in getattr(item, "fixturenames", ())}
    if "reachability" in used:
        threading.Thread(target=_probes(config).prefetch, name="homelab-sweep", daemon=True).start()


@pytest.fixture(scope="session")
def reachability(pytestconfig: pytest.Config) -> Any:
    """The phase's probes from every source, swept once per run (`homelab.checks.reach`), started in the
    background as the run starts."""
    return _probes(pytestconfig)


# -- reports and redaction -----------------------------------------------------------------------------
class Masking:
    """Secrets masked on every channel of a spec run besides its reports (`columns.redact`, below): the terminal,
    `-s` included; log records (live with --log-cli-level, captured, caplog, --log-file); warnings."""

    def __init__(self, config: pytest.Config) -> None:
        capman = config.pluginmanager.getplugin("capturemanager")
        # Capture puts back the streams it found when it started whenever it is suspended or stopped: restart it
        # (suspended, as it is while pytest configures) over the masked ones, for -s, tee-sys, capsys.disabled().
        # What conftest files printed so far goes into the new capture, to come out masked where it always did.
        if capman is not None:
            early = capman.read_global_capture()
            capman.stop_global_capturing()
        restore_streams = redact.mask_streams()
        if capman is not None:
            capman.start_global_capturing()
            sys.stdout.write(early.out)
            sys.stderr.write(early.err)
            capman.suspend_global_capture()
        restore_records = redact.mask_log_records()

        def unmask() -> None:  # after every pytest_unconfigure
            if capman is not None:
                capman.stop_global_capturing()  # puts back the masked streams, then:
            restore_streams()
            restore_records()

        config.add_cleanup(unmask)

    @pytest.hookimpl(tryfirst=True)
    def pytest_sessionstart(self, session: pytest.Session) -> None:
        """pytest's own log handlers mask too (records are masked when made; these catch any made otherwise)."""
        plugin = session.config.pluginmanager.get_plugin("logging-plugin")
        for name in ("caplog_handler", "report_handler", "log_cli_handler", "log_file_handler"):
            handler = getattr(plugin, name, None)
            if isinstance(handler, logging.Handler):
                handler.addFilter(redact.RedactingFilter())

    @pytest.hookimpl(tryfirst=True)
    def pytest_warning_recorded(self, warning_message: Any) -> None:
        """A warning's message is masked before the warnings summary (or anything else) reads it."""
        text = str(warning_message.message)
        masked = REDACTOR(text)
        if masked == text:
            return
        try:
            warning_message.message = warning_message.category(masked)
            if str(warning_message.message) != masked:
                raise TypeError(masked)
        except Exception:  # a warning class that takes other arguments
            warning_message.message = UserWarning(masked)


@pytest.hookimpl(wrapper=True)
def pytest_runtest_makereport(item: pytest.Item, call: pytest.CallInfo[None]) -> Generator[
        None, pytest.TestReport, pytest.TestReport]:
    rep = yield
    if call.excinfo is not None and call.excinfo.errisinstance(NotInInventory):
        rep.longrepr = str(call.excinfo.value)  # the inventory's fault, not the spec's: its one line, no traceback
    columns.describe(item, rep)
    audit = item.config.stash.get(AUDIT, None)
    if audit is not None:
        audit.waive(item, rep)
    if REDACTOR:
        columns.redact(rep)
    return rep


@pytest.hookimpl(wrapper=True)
def pytest_make_collect_report(collector: pytest.Collector) -> Generator[
        None, pytest.CollectReport, pytest.CollectReport]:
    rep = yield
    if REDACTOR:
        columns.redact(rep)
    return rep

