"""Change counters shared through a mapped file: seen across processes without a system call."""

from __future__ import annotations

import multiprocessing
import os
import stat

import pytest

from engine.changecount import ChangeCounter
from engine.errors import EngineError


def _bump(path: str, times: int) -> None:
    counter = ChangeCounter(path)
    for _ in range(times):
        counter.bump()
    counter.close()


def _die_while_changing(path: str) -> None:
    with ChangeCounter(path).changing():
        os._exit(3)  # a writer killed in the middle of its change


def test_changes_made_by_other_processes_show_and_none_is_lost(tmp_path):
    path = tmp_path / "log.sqlite.events-changes"
    counter = ChangeCounter(path)
    assert counter.settled() == 0
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    ctx = multiprocessing.get_context("spawn")
    workers = [ctx.Process(target=_bump, args=(str(path), 200)) for _ in range(3)]
    for w in workers:
        w.start()
    for w in workers:
        w.join(60)
    assert [w.exitcode for w in workers] == [0, 0, 0]
    assert counter.settled() == 600, "every bump of every process is counted"
    counter.close()


def test_a_change_in_progress_is_unsettled_and_a_dead_writer_leaves_it_so(tmp_path):
    path = tmp_path / "changes"
    counter = ChangeCounter(path)
    with counter.changing():
        assert counter.settled() is None
    assert counter.settled() == 1
    with pytest.raises(RuntimeError), counter.changing():
        raise RuntimeError("the change failed")
    assert counter.settled() == 2, "a failed change still ends"
    ctx = multiprocessing.get_context("fork")
    dead = ctx.Process(target=_die_while_changing, args=(str(path),))
    dead.start()
    dead.join(30)
    assert dead.exitcode == 3
    assert counter.settled() is None, "readers never trust a cache across a half-made change"
    counter.bump()
    assert counter.settled() is None
    counter.close()


def test_a_counter_that_cannot_be_made_names_its_file(tmp_path):
    with pytest.raises(EngineError, match=r"change counter .*missing/changes: cannot open it"):
        ChangeCounter(tmp_path / "missing" / "changes")


def test_a_closed_counter_says_so_instead_of_counting(tmp_path):
    counter = ChangeCounter(tmp_path / "changes")
    counter.close()
    with pytest.raises(EngineError, match=r"changes is closed: open it again"):
        counter.bump()
