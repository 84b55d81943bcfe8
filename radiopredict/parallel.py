"""One executor interface for embarrassingly parallel work (folds, cases, bootstrap).

``run_tasks(func, items)`` runs ``func(item)`` for every item and returns the results in the
order of ``items``, serially, in joblib worker processes, or on a Dask distributed cluster, with
an optional progress bar. Results must be picklable for the parallel back-ends.

Progress is shown one way everywhere: a transient `rich <https://rich.readthedocs.io>`_ bar,
switched by a ``progress=`` keyword (:func:`track` for loops, :func:`run_tasks` for tasks).
"""

from __future__ import annotations

import functools
import warnings
from collections.abc import Callable, Iterable, Iterator, Sequence
from typing import Any

from radiopredict.errors import ConfigError

__all__ = ["run_tasks", "iter_tasks", "starred", "track", "resolve_progress"]


def track(
    iterable: Iterable[Any], *, total: int | None = None, description: str = "", enabled=True
) -> Iterable[Any]:
    """Wrap ``iterable`` in a transient rich progress bar when ``enabled``."""
    if not enabled:
        return iterable
    from rich.progress import track as rich_track

    return rich_track(iterable, total=total, description=description or "working", transient=True)


def resolve_progress(progress: bool, progress_bar: bool | None, *, where: str) -> bool:
    """The ``progress=`` switch, honouring the deprecated ``progress_bar=`` keyword."""
    if progress_bar is None:
        return bool(progress)
    warnings.warn(
        f"{where}(progress_bar=...) is deprecated; use progress=... (the one keyword of every "
        "stage)",
        DeprecationWarning,
        stacklevel=3,
    )
    return bool(progress_bar)


class _Bar:
    """A rich progress bar over a known number of tasks."""

    def __init__(self, total: int, description: str) -> None:
        from rich.progress import Progress

        self._progress = Progress(transient=True)
        self._task = self._progress.add_task(description or "tasks", total=total)
        self._progress.start()

    def update(self, n: int) -> None:
        self._progress.advance(self._task, n)

    def close(self) -> None:
        self._progress.stop()


def _progress_bar(total: int, description: str, enabled: bool) -> _Bar | None:
    return _Bar(total, description) if enabled else None


def iter_tasks(
    func: Callable[[Any], Any],
    items: Iterable[Any],
    n_jobs: int = 1,
    executor: str | Any | None = None,
) -> Iterator[tuple[int, Any]]:
    """Yield ``(index, func(item))`` as the tasks finish (in any order), on one back-end.

    The streaming form of :func:`run_tasks`, for callers that store or report each result as
    it arrives (cohort extraction caches every finished image at once). Parameters as in
    :func:`run_tasks`; with ``executor="dask"`` and no running client, a local cluster of
    ``n_jobs`` worker processes (threads in this process when ``n_jobs == 1``) is started
    for the call and closed afterwards.
    """
    kind = _kind(executor, n_jobs)  # checked now, not at the first result
    return _iter_tasks(func, list(items), kind, n_jobs, executor)


def _iter_tasks(func, items, kind, n_jobs, executor) -> Iterator[tuple[int, Any]]:
    if kind == "serial":
        for i, item in enumerate(items):
            yield i, func(item)
    elif kind == "joblib":
        from joblib import Parallel, delayed

        par = Parallel(n_jobs=n_jobs, return_as="generator_unordered")
        yield from par(delayed(_indexed)(func, i, item) for i, item in enumerate(items))
    else:
        yield from _iter_dask(func, items, executor, n_jobs)


def starred(func: Callable[..., Any]) -> Callable[[Sequence[Any]], Any]:
    """``func`` taking one tuple of arguments (picklable when ``func`` is)."""
    return functools.partial(_call_starred, func)


def _call_starred(func: Callable[..., Any], args: Sequence[Any]) -> Any:
    return func(*args)


def _indexed(func: Callable[[Any], Any], i: int, item: Any) -> tuple[int, Any]:
    return i, func(item)


def run_tasks(
    func: Callable[[Any], Any],
    items: Iterable[Any],
    n_jobs: int = 1,
    executor: str | Any | None = None,
    progress: bool = False,
    description: str = "",
) -> list[Any]:
    """Apply ``func`` to every item, possibly in parallel; results keep the items' order.

    Parameters
    ----------
    func
        Function of one argument. For process or cluster back-ends it must be picklable (a
        module-level function or a :func:`functools.partial` of one).
    items
        The arguments.
    n_jobs
        Worker processes for the joblib back-end (-1 = all cores). ``1`` runs serially.
    executor
        ``None`` (serial when ``n_jobs == 1``, joblib processes otherwise), ``"serial"``,
        ``"joblib"``, ``"dask"`` (the current ``distributed`` client, or a local one) or a
        ``distributed.Client`` instance.
    progress
        Show a progress bar (rich).
    description
        Label of the progress bar.

    Returns
    -------
    list
        ``[func(item) for item in items]``.
    """
    items = list(items)
    _kind(executor, n_jobs)  # a bad executor is an error before any bar is drawn
    bar = _progress_bar(len(items), description, progress)
    out: list[Any] = [None] * len(items)
    try:
        for i, res in iter_tasks(func, items, n_jobs=n_jobs, executor=executor):
            out[i] = res
            if bar is not None:
                bar.update(1)
        return out
    finally:
        if bar is not None:
            bar.close()


def _kind(executor, n_jobs: int) -> str:
    if executor is None:
        return "serial" if n_jobs == 1 else "joblib"
    if isinstance(executor, str):
        if executor not in ("serial", "joblib", "dask"):
            raise ConfigError(
                f"unknown executor {executor!r}",
                fix="use 'serial', 'joblib', 'dask' or a distributed.Client",
            )
        return executor
    if hasattr(executor, "submit") and hasattr(executor, "gather"):
        return "dask"
    raise ConfigError(
        f"executor must be a name or a distributed.Client, got {type(executor).__name__}",
        fix="use 'serial', 'joblib', 'dask' or a distributed.Client",
    )


def _iter_dask(func, items: Sequence[Any], executor, n_jobs: int) -> Iterator[tuple[int, Any]]:
    from radiopredict._optional import optional_import

    distributed = optional_import("distributed", extra="dask", purpose="the Dask executor")
    client = executor if not isinstance(executor, str) else None
    own = None
    if client is None:
        try:
            client = distributed.get_client()
        except ValueError:
            client = own = distributed.Client(
                n_workers=max(1, n_jobs),
                threads_per_worker=1,
                processes=n_jobs > 1,
                dashboard_address=None,
            )
    try:
        futures = {client.submit(func, item, pure=False): i for i, item in enumerate(items)}
        for fut in distributed.as_completed(futures):
            yield futures[fut], fut.result()
    finally:
        if own is not None:
            own.close()
