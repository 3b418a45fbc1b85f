"""What the phase specs ask of live hosts, as predicates and readable findings (the specs stay short).

Each module answers one area: `reach` (probes from every vantage, and why they disagree with ufw),
`ufw` (the host firewall's own view), `engine` (the Docker engine and the platform stack's containers),
`dns` (resolution and recursion through Technitium), `tls` (certificates NPM serves).
"""


def problem(expected: str, found: str, where: str, fix: str) -> str:
    """The one shape of a failure message: expected / found / where / how to fix."""
    return f"expected {expected}; found {found}; where: {where}; fix: {fix}"


def could_not_observe(why: str, host: str, source: str) -> str:
    """The one shape of a spec that could not look (a read failed, or printed nothing where something must be): it
    fails saying so, and never passes or skips for that."""
    return f"could not observe: {why} (on {host} from {source})"
