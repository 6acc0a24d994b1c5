"""Running one function over many datasets, in order: on threads, or on spawned processes.

Threads overlap file I/O (pyarrow releases the GIL). Spawned processes run Python work in parallel
too, after ~4 s to start them; they pay off only when each item is expensive Python work, such as
lerobot's own `LeRobotDataset` construction (`reader="lerobot"`), and only when asked for.
"""

from __future__ import annotations

import logging
import multiprocessing
import os
from collections.abc import Callable, Sequence
from concurrent.futures import ProcessPoolExecutor, ThreadPoolExecutor
from concurrent.futures.process import BrokenProcessPool
from typing import TypeVar

logger = logging.getLogger(__name__)
T = TypeVar("T")
R = TypeVar("R")


def available_cores() -> int:
    return len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count() or 1


def resolve_processes(open_processes: int | None, count: int) -> int:
    """A user's `open_processes` checked, as a count (None, 0 or 1: threads).

    Threads by default: metadata is read straight from the files (~5 ms a small dataset), and an
    opened dataset's tables pickle back slower than they are read (1,000 datasets: 12.2 s in 2
    spawned processes, 5.8 s on 2 threads; docs/benchmarks.md).
    """
    if open_processes is None:
        return 0
    if isinstance(open_processes, bool) or not isinstance(open_processes, int) or open_processes < 0:
        raise ValueError(
            f"open_processes = {open_processes!r}: expected an integer >= 0, or None (automatic)"
        )
    return open_processes


def parallel_map(
    fn: Callable[[T], R], items: Sequence[T], max_workers: int | None = None, processes: int = 0
) -> list[R]:
    """`[fn(x) for x in items]`, on `processes` spawned processes if > 1, else on `max_workers` threads
    (None: one per core, at most 8; more threads than cores only contend for the GIL).

    With processes, `fn` and the items must pickle (a module-level function or a `functools.partial`
    of one). Spawned processes import the caller's main script: one without an
    `if __name__ == "__main__":` guard breaks the pool, and the work then runs here, with a warning.
    """
    if len(items) <= 1:
        return [fn(x) for x in items]
    if processes > 1:
        try:
            return _process_map(fn, items, processes)
        except BrokenProcessPool as e:
            logger.warning(
                "opening %d datasets in %d processes failed (%s); opening them in this process instead. "
                "A script that opens many datasets needs an `if __name__ == '__main__':` guard.",
                len(items),
                processes,
                e,
            )
            return [fn(x) for x in items]
    if max_workers is None:
        max_workers = min(available_cores(), 8)
    if max_workers <= 1:
        return [fn(x) for x in items]
    hold_progress_bar_locks()
    with ThreadPoolExecutor(max_workers=max_workers) as pool:
        return list(pool.map(fn, items))


def hold_progress_bar_locks() -> None:
    """Give the `datasets` and huggingface_hub tqdm classes their own lock before threads start.

    tqdm's `thread_map` (huggingface_hub's snapshot downloads) creates a class's lock when it has none
    and deletes it when the map ends, while another thread may still use it: "type object 'tqdm' has
    no attribute '_lock'" (or a hang) at random when datasets open in parallel. A lock set here is
    one `thread_map` finds and keeps."""
    from datasets.utils.tqdm import tqdm as datasets_tqdm
    from huggingface_hub.utils import tqdm as hub_tqdm

    for cls in (datasets_tqdm, hub_tqdm):
        cls.set_lock(cls.get_lock())


def _process_map(fn: Callable[[T], R], items: Sequence[T], processes: int) -> list[R]:
    # spawn, not fork: the parent may hold torch/pyarrow threads, which a forked child cannot use safely
    context = multiprocessing.get_context("spawn")
    workers = min(processes, len(items))
    chunk = max(1, len(items) // (workers * 4))
    with ProcessPoolExecutor(max_workers=workers, mp_context=context) as pool:
        return list(pool.map(fn, items, chunksize=chunk))
