"""bootstrap.steps.Parallel: independent hosts at once, each host's steps in order, output readable per host."""

from __future__ import annotations

import io
import threading
import time

import pytest

from bootstrap.steps import Parallel, Step, StepFailed, run_steps


def _host(name: str, seconds: float, log: list[str], fail: bool = False) -> tuple[Step, ...]:
    done: set[str] = set()

    def apply(step: str) -> None:
        time.sleep(seconds)
        if fail and step == "second":
            raise StepFailed("it broke")
        log.append(f"{name}:{step}")
        done.add(step)

    return tuple(Step(step, name, lambda s=step: s in done, lambda s=step: apply(s)) for step in ("first", "second"))


def test_groups_run_at_once_and_each_in_order() -> None:
    log: list[str] = []
    out = io.StringIO()
    started = time.monotonic()
    outcome = run_steps([Parallel((_host("a", 0.3, log), _host("b", 0.3, log), _host("c", 0.3, log)))], False, out)
    assert time.monotonic() - started < 1.2, "three hosts of 0.6 s each did not run at once"
    assert len(outcome.changed) == 6
    for name in "abc":
        assert [entry for entry in log if entry.startswith(name)] == [f"{name}:first", f"{name}:second"]
    lines = out.getvalue().splitlines()
    assert [line.split()[1].rstrip(":") for line in lines] == ["a", "a", "b", "b", "c", "c"], lines


def test_a_failing_host_fails_the_run_after_the_others_are_shown() -> None:
    log: list[str] = []
    out = io.StringIO()
    with pytest.raises(StepFailed, match="step 'second' on b failed: it broke"):
        run_steps([Parallel((_host("a", 0.05, log), _host("b", 0.05, log, fail=True)))], False, out)
    assert "a:second" in log, "the healthy host was not finished"
    assert "applying a: second" in out.getvalue()
    assert "applying b: second" in out.getvalue()


def test_dry_run_changes_nothing_in_any_group() -> None:
    log: list[str] = []
    outcome = run_steps([Parallel((_host("a", 0, log), _host("b", 0, log)))], True, io.StringIO())
    assert log == []
    assert len(outcome.changed) == 4


def test_groups_use_separate_threads() -> None:
    seen: set[int] = set()
    barrier = threading.Barrier(2, timeout=5)

    def meet() -> None:
        seen.add(threading.get_ident())
        barrier.wait()  # deadlocks (BrokenBarrierError after 5 s) unless both groups run at once

    groups = tuple((Step("meet", name, lambda: False, meet),) for name in "ab")
    with pytest.raises(StepFailed, match="applied, but the check still fails"):
        run_steps([Parallel(groups)], False, io.StringIO())
    assert len(seen) == 2
