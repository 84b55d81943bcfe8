"""One executor interface for embarrassingly parallel work (folds, cases, bootstrap).

``run_tasks(func, items)`` runs ``func(item)`` for every item and returns the results in the
order of ``items``, serially, in joblib worker processes, or on a Dask distributed cluster, with
an optional progress bar. Results must be picklable for the parallel back-ends.

Progress is shown one way everywhere: a transient `rich <https://rich.readthedocs.io>`_ bar,
switched by a ``progress=`` keyword (:func:`track` for loops, :func:`run_tasks` for tasks).
"""

from __future__ import annotations

import warnings
from collections.abc import Callable, Iterable, Sequence
from typing import Any

from radiopredict.errors import ConfigError

__all__ = ["run_tasks", "track", "resolve_progress"]


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
    bar = _progress_bar(len(items), description, progress)
    try:
        kind = _kind(executor, n_jobs)
        if kind == "serial":
            out = []
            for item in items:
                out.append(func(item))
                if bar is not None:
                    bar.update(1)
            return out
        if kind == "joblib":
            from joblib import Parallel, delayed

            gen = Parallel(n_jobs=n_jobs, return_as="generator")(
                delayed(func)(item) for item in items
            )
            out = []
            for res in gen:
                out.append(res)
                if bar is not None:
                    bar.update(1)
            return out
        return _run_dask(func, items, executor, bar)
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


def _run_dask(func, items: Sequence[Any], executor, bar) -> list[Any]:
    from radiopredict._optional import optional_import

    distributed = optional_import("distributed", purpose="the Dask executor")
    client = executor if not isinstance(executor, str) else None
    own = False
    if client is None:
        try:
            client = distributed.get_client()
        except ValueError:
            client = distributed.Client(processes=False, dashboard_address=None)
            own = True
    try:
        futures = client.map(func, items, pure=False)
        index = {f.key: i for i, f in enumerate(futures)}
        out: list[Any] = [None] * len(futures)
        for fut in distributed.as_completed(futures):
            out[index[fut.key]] = fut.result()
            if bar is not None:
                bar.update(1)
        return out
    finally:
        if own:
            client.close()
