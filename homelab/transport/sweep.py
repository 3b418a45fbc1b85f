"""Probe many TCP ports at once from one process: non-blocking connects, one shared deadline.

Standard library only, and nothing imported from the project: the same source runs here (the runner) and,
sent as `python3 -c`, on any vantage point that has python3. Hundreds of probes cost one probe timeout and a
few milliseconds of CPU, where a shell and a `timeout` process per probe cost a fork or two each.

Usage on a far side: `python3 -c SOURCE TIMEOUT ADDRESS:PORT ...`, printing `ADDRESS PORT OUTCOME` lines
(open, closed or filtered), the format of `homelab.transport.probes.parse_remote`.
"""

from __future__ import annotations

import errno
import selectors
import socket
import sys
import time
from typing import cast

BATCH = 512  # sockets open at once where the file-descriptor limit cannot be raised (the usual 1024)
BIG_BATCH = 12000  # ... where it can: the attacker's sweep (thousands of ports) then costs one timeout


def batch_size() -> int:
    """As many sockets at once as the process may open, raising its soft limit to the hard one if it can."""
    try:
        import resource

        soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
        wanted = BIG_BATCH + 64 if hard == resource.RLIM_INFINITY else min(hard, BIG_BATCH + 64)
        if soft != resource.RLIM_INFINITY and soft < wanted:
            resource.setrlimit(resource.RLIMIT_NOFILE, (wanted, hard))
            soft = wanted
        return max(BATCH, min(BIG_BATCH, (BIG_BATCH + 64 if soft == resource.RLIM_INFINITY else soft) - 64))
    except (ImportError, ValueError, OSError):
        return BATCH


def sweep(targets: list[tuple[str, int]], timeout: float) -> dict[tuple[str, int], str]:
    """Connect to every (address, port) at once; `open` (accepted), `closed` (refused), `filtered` (else)."""
    found: dict[tuple[str, int], str] = {}
    size = batch_size() if len(targets) > BATCH else BATCH
    for start in range(0, len(targets), size):
        found.update(_batch(targets[start:start + size], timeout))
    return found


def _batch(targets: list[tuple[str, int]], timeout: float) -> dict[tuple[str, int], str]:
    found: dict[tuple[str, int], str] = {}
    with selectors.DefaultSelector() as selector:
        for target in targets:
            sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
            sock.setblocking(False)
            code = sock.connect_ex(target)
            if code in (0, errno.EINPROGRESS):
                selector.register(sock, selectors.EVENT_WRITE, target)
                continue
            found[target] = "closed" if code == errno.ECONNREFUSED else "filtered"
            sock.close()
        deadline = time.monotonic() + timeout
        while selector.get_map():
            left = deadline - time.monotonic()
            if left <= 0:
                break
            for key, _ in selector.select(left):
                sock = cast(socket.socket, key.fileobj)
                code = sock.getsockopt(socket.SOL_SOCKET, socket.SO_ERROR)
                found[key.data] = "open" if code == 0 else "closed" if code == errno.ECONNREFUSED else "filtered"
                selector.unregister(sock)
                sock.close()
        for key in list(selector.get_map().values()):  # no answer within the timeout: dropped
            found[key.data] = "filtered"
            cast(socket.socket, key.fileobj).close()
    return found


def expand(arg: str) -> list[tuple[str, int]]:
    """`ADDRESS:PORTS`, PORTS being `22`, `1-1024` or a comma list of both (one argument per address keeps
    the command line short: one SSH command is one argument of at most 128 KiB)."""
    address, ports = arg.rsplit(":", 1)
    found: list[tuple[str, int]] = []
    for part in ports.split(","):
        low, _, high = part.partition("-")
        found += [(address, p) for p in range(int(low), int(high or low) + 1)]
    return found


def compact(targets: list[tuple[str, int]]) -> list[str]:
    """The inverse of `expand`: one `ADDRESS:PORTS` argument per address, consecutive ports as ranges."""
    by_address: dict[str, list[int]] = {}
    for address, port in targets:
        by_address.setdefault(address, []).append(port)
    args = []
    for address, ports in by_address.items():
        ranges: list[list[int]] = []
        for port in sorted(set(ports)):
            if ranges and port == ranges[-1][1] + 1:
                ranges[-1][1] = port
            else:
                ranges.append([port, port])
        args.append(f"{address}:" + ",".join(f"{a}-{b}" if b > a else str(a) for a, b in ranges))
    return args


def main(argv: list[str]) -> None:
    targets = [t for arg in argv[1:] for t in expand(arg)]
    for (address, port), outcome in sweep(targets, float(argv[0])).items():
        print(address, port, outcome)


if __name__ == "__main__":
    main(sys.argv[1:])
