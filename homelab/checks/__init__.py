"""What the specs ask, as predicates and readable findings (the specs stay short): of live hosts, and of the
repository itself.

Each module answers one area: `reach` (probes from every vantage, and why they disagree with ufw),
`ufw` (the host firewall's own view), `engine` (the Docker engine and the platform stack's containers),
`containers` and `exposure` (what runs and what an attacker reaches, against the plan), `dns` (resolution and
recursion through Technitium), `tls` (certificates NPM serves), `sshd` and `logins` (hardening), `portainer`
and `observability` (the services as their APIs see them), `gpu` with `nvidia_smi` (the GPU workers) and
`gaming` (a worker's gaming mode), `exposure_matrix` (who reached what, as the run recorded it) and `static`
with `static_services` and `static_monitoring` (the repository: stacks, compose services, inventory agreement,
git hygiene, the monitoring configuration; no host).

Imports homelab.model, homelab.transport and homelab.clients; report, specs and bootstrap import it.
"""


def problem(*, expected: str, found: str, where: str, fix: str) -> str:
    """The one shape of a failure message, for the live specs and the static checks alike: expected / found /
    where / how to fix. Keyword-only, so no call can put the parts in the wrong order."""
    return f"expected {expected}; found {found}; where: {where}; fix: {fix}"


def could_not_observe(why: str, host: str, source: str) -> str:
    """The one shape of a spec that could not look (a read failed, or printed nothing where something must be): it
    fails saying so, and never passes or skips for that."""
    return f"could not observe: {why} (on {host} from {source})"
