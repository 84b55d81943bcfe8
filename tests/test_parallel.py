"""The one executor and the one progress switch."""

from __future__ import annotations

import functools
import operator

import pytest

from radiopredict.errors import ConfigError
from radiopredict.parallel import resolve_progress, run_tasks, track


def test_run_tasks_keeps_order_with_and_without_a_bar():
    double = functools.partial(operator.mul, 2)
    assert run_tasks(double, range(5)) == [0, 2, 4, 6, 8]
    assert run_tasks(double, range(5), progress=True, description="x") == [0, 2, 4, 6, 8]
    assert run_tasks(double, range(4), n_jobs=2) == [0, 2, 4, 6]
    with pytest.raises(ConfigError, match="unknown executor"):
        run_tasks(double, range(2), executor="threads")


def test_track_is_transparent():
    assert list(track(range(3), total=3, description="t")) == [0, 1, 2]
    assert list(track(range(3), enabled=False)) == [0, 1, 2]


def test_old_progress_keyword_still_works_with_a_deprecation_warning():
    assert resolve_progress(True, None, where="f") is True
    with pytest.warns(DeprecationWarning, match=r"f\(progress_bar=...\) is deprecated"):
        assert resolve_progress(True, False, where="f") is False


@pytest.mark.parametrize(("n_jobs", "executor"), [(1, None), (2, None), (1, "dask")])
def test_iter_tasks_streams_every_result_once(n_jobs, executor):
    from radiopredict.parallel import iter_tasks, starred

    if executor == "dask":
        pytest.importorskip("distributed")
    got = dict(iter_tasks(starred(operator.add), [(i, 10) for i in range(6)], n_jobs, executor))
    assert got == {i: i + 10 for i in range(6)}


def test_iter_tasks_checks_the_executor_before_running():
    from radiopredict.parallel import iter_tasks

    calls = []
    with pytest.raises(ConfigError, match="unknown executor"):
        iter_tasks(calls.append, [1, 2], executor="spark")
    assert calls == []
