"""What the phase specs ask of live hosts, as predicates and readable findings (the specs stay short).

Each module answers one area: `reach` (probes from every vantage, and why they disagree with ufw),
`ufw` (the host firewall's own view), `engine` (the Docker engine and the platform stack's containers),
`dns` (resolution and recursion through Technitium), `tls` (certificates NPM serves).
"""


def problem(expected: str, found: str, where: str, fix: str) -> str:
    """The one shape of a failure message: expected / found / where / how to fix."""
    return f"expected {expected}; found {found}; where: {where}; fix: {fix}"
