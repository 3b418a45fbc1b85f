"""Exposure by name: every name NPM serves is reached only from where its service's exposure allows.

Each name is asked from the runner and every vantage through the NPM listener that source can reach (NPM's
own address; from the internet, the router's public address), over HTTPS with the name as SNI and Host, and
over HTTP; where the homelab has a public name, also under that name's SNI with the private name as Host
(nginx routes by Host, so only the private proxy host's access list stands in the way). NPM's 403, a
redirect to HTTPS, its default site or no connection at all reach nothing; any other answer came from the
service. Then NPM's own configuration says why: each non-public proxy host carries an access list that
admits exactly its exposure's networks (bootstrap phase 1 makes and attaches them).
"""

from __future__ import annotations

import pytest

from homelab.checks import problem
from homelab.checks.exposure import classify, name_allowed, observed
from homelab.checks.exposure_matrix import MATRIX, Cell
from homelab.model.policy import allowed_networks

pytestmark = pytest.mark.exposure

ACCESS_FIX = ("re-run `python -m bootstrap phase1`: it makes one NPM access list per exposure (allow the LAN "
              "and VPN networks, deny all) and attaches it to every non-public proxy host")


def _observe(reachability, source, ask, on) -> tuple[str, bool]:
    """(what `source` found asking `ask`, whether it reached the service); fails when nothing was observed."""
    answer = reachability.name_answer(source, ask, on)
    found, reached = classify(answer)
    if answer is None or not observed(found):
        why = found if answer is not None else reachability.name_error(source)
        pytest.fail(f"could not observe: {why} ({ask.key} from {source.name})", pytrace=False)
    return found, reached


def _why_reached(inventory, source, ask) -> str:
    if source.kind == "wan":
        return (f"the router forwards {ask.address}:{443 if ask.scheme == 'https' else 80} to NPM, and NPM "
                f"serves {ask.fqdn} to the internet: remove that port forward unless a service is public, and "
                f"{ACCESS_FIX}")
    return f"NPM serves {ask.fqdn} to this network: {ACCESS_FIX}"


@pytest.mark.spec("EXP-NAME-001", severity="critical", fix=ACCESS_FIX)
@pytest.mark.each("fqdn")
@pytest.mark.each("source", origin=("runner", "vantage"))
def test_name_reached_only_where_allowed(fqdn, source, inventory, reachability, on):
    """The name reaches its service through NPM from the networks its exposure allows, and from nowhere else:
    not over HTTPS, not over HTTP, not under another (public) name's SNI."""
    service = fqdn.instance.service
    on(fqdn.instance.host)  # behind the name: a worker that is off skips, as the host-down policy says
    allowed = name_allowed(inventory, source, service.exposure)
    asks = [a for a in reachability.name_asks(source) if a.fqdn == fqdn.name]
    assert asks, f"could not observe: no NPM listener to ask {fqdn.name} through from {source.name}"
    problems = []
    for ask in asks:
        found, reached = _observe(reachability, source, ask, on)
        direct = ask.sni is None or ask.sni == ask.fqdn
        must_reach = allowed and direct and ask.scheme == "https"
        ok = reached if must_reach else (allowed or not reached)
        row = f"{fqdn.name} {ask.scheme}" + ("" if direct else f" (SNI {ask.sni})")
        MATRIX.record(Cell(fqdn.instance.host.name, row, source.name, "open" if allowed else "closed", found, ok))
        if not ok and reached:
            problems.append(problem(expected=f"no answer from {service.name} (exposure {service.exposure})",
                                    found=found, where=f"{ask.key} from {source.name} "
                                    f"({source.address or 'this machine'}, {source.kind} network)",
                                    fix=_why_reached(inventory, source, ask)))
        elif not ok:
            problems.append(problem(expected=f"{service.name} reached (exposure {service.exposure} admits this "
                                    "network)", found=found, where=f"{ask.key} from {source.name}",
                                    fix="let NPM's 443 admit this network and the proxy host's access list allow it "
                                    f"(re-run `python -m bootstrap phase{service.phase}`)"))
    if problems:
        pytest.fail(" | ".join(problems), pytrace=False)


@pytest.mark.phase1
@pytest.mark.spec("EXP-NAME-003", severity="high",
                  fix="NPM's default site must serve nothing (NPM > Settings > Default Site: 404 or no response); "
                      "remove a catch-all proxy host (`*` or the bare domain) that forwards unknown names")
@pytest.mark.each("source", origin=("runner", "vantage"))
def test_unknown_name_reaches_nothing(source, reachability, on):
    """A name NPM serves no proxy host for reaches no service, over HTTPS or HTTP: only NPM's default site."""
    asks = [a for a in reachability.name_asks(source) if a.fqdn == reachability.unknown_name]
    assert asks, f"could not observe: no NPM listener to ask from {source.name}"
    for ask in asks:
        found, reached = _observe(reachability, source, ask, on)
        assert not reached, problem(expected="NPM's default site (nothing behind it)", found=found,
                                    where=f"{ask.key} from {source.name}", fix="NPM > Settings > Default Site: 404 or "
                                    "no response; remove a catch-all proxy host")


@pytest.mark.spec("EXP-NAME-002", severity="high", fix=ACCESS_FIX)
@pytest.mark.each("fqdn")
def test_name_has_access_list(fqdn, inventory, npm):
    """Each non-public name's proxy host in NPM carries an access list that allows exactly its exposure's
    networks and denies the rest (the reason EXP-NAME-001 holds even when NPM's port is reachable)."""
    service = fqdn.instance.service
    if service.exposure == "public":
        pytest.skip(f"{fqdn.name} is public: no access list is required")
    wanted = sorted(str(n) for n in allowed_networks(inventory, service.exposure) or [])
    host = npm.proxy_host_for(fqdn.name)
    where = f"NPM proxy host {fqdn.name}"
    assert host is not None, problem(expected="a proxy host for the name", found="none", where=where, fix=ACCESS_FIX)
    list_id = int(host.fields.get("access_list_id") or 0)
    assert list_id, problem(expected=f"an access list allowing {', '.join(wanted)} only",
                            found="no access list (anyone who reaches NPM reaches the service)", where=where,
                            fix=ACCESS_FIX)
    found = next((a for a in npm.access_lists() if a.id == list_id), None)
    assert found is not None, problem(expected=f"access list {list_id}", found="missing", where=where, fix=ACCESS_FIX)
    allows = sorted(address for directive, address in found.clients if directive == "allow")
    assert (allows, len(found.usernames)) == (wanted, 0), problem(
        expected=f"allow {', '.join(wanted)}, deny all, no users", found=f"allow {', '.join(allows) or 'nothing'}"
        + (f" and {len(found.usernames)} login(s)" if found.usernames else ""),
        where=f"{where} (access list {found.name!r})", fix=ACCESS_FIX)
