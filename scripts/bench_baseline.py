"""The benchmark's baseline as a pytest plugin: `pytest -p bench_baseline` (scripts/ on the path), which only
scripts/bench.py loads. The same specs run as plainly written ones would: no connection made ahead, no sweep,
each probe on its own, each host's containers asked one by one. Never for a real run: it is slow.
"""

from __future__ import annotations

import pytest

from homelab.specs.pytest_plugin import ACCESS


@pytest.hookimpl(trylast=True)
def pytest_configure(config: pytest.Config) -> None:
    """After the specs' plugin has set up the run (tryfirst), switch its host access to the plain mode."""
    access = config.stash.get(ACCESS, None)
    if access is not None:
        access.run_plainly()
