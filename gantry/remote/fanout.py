"""Run one step on many hosts at once: a bounded pool, one result or error per host, Ctrl-C survived.

A Ctrl-C while the workers run cancels the health waits (the caller's on_interrupt) and is raised
again only after every worker has finished, carrying their results, so no host is left mid-step unknown.
"""

from __future__ import annotations

import signal
import threading
from collections.abc import Callable, Iterator, Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from contextlib import contextmanager

from gantry.errors import GantryError


def fan_out(items: Sequence, fn: Callable, max_parallel: int, *, reraise: bool = True,
            on_interrupt: Callable[[], None] | None = None) -> list:
    """Run fn over items in a bounded pool; returns each item's GantryError or result, in order.

    A Ctrl-C while waiting calls on_interrupt (which cancels the health waits) and is raised again as
    BatchInterrupted (unless reraise=False, for restoring steps) once every worker has finished.
    """
    if not items:
        return []
    with ThreadPoolExecutor(max_workers=max(1, min(max_parallel, len(items)))) as pool:
        # Every item is started, even when Ctrl-C comes while they are being handed out: an item never
        # started would have no result, and its host no known state.
        with interrupts_held() as arrived:
            futures: list[Future] = [pool.submit(_capture, fn, item) for item in items]
        interrupted = bool(arrived) and not _pass_on(arrived)
        if interrupted and on_interrupt is not None:
            on_interrupt()
        while True:
            try:
                results = [f.result() for f in futures]
                break
            except KeyboardInterrupt:
                interrupted = True
                if on_interrupt is not None:
                    on_interrupt()
        if interrupted and reraise:
            raise BatchInterrupted(results)
        return results


class BatchInterrupted(KeyboardInterrupt):
    """Ctrl-C during a parallel step; carries every worker's result, collected after they finished."""

    def __init__(self, results: list) -> None:
        super().__init__()
        self.results = results


def _capture(fn: Callable, item: object) -> object:
    try:
        return fn(item)
    except GantryError as exc:
        return exc


def _pass_on(arrived: list[int]) -> bool:
    """Give the Ctrl-C that came while work was handed out to whoever holds interrupts around this fan-out
    (a caller's own interrupts_held): True when it took them, False when they are this fan-out's to handle."""
    outer = signal.getsignal(signal.SIGINT)
    if not callable(outer) or outer is signal.default_int_handler:
        return False
    for signum in arrived:
        outer(signum, None)
    return True


@contextmanager
def interrupts_held() -> Iterator[list[int]]:
    """Hold Ctrl-C while a block runs that only records an outcome (switches done, audit, unlock): stopping
    it halfway would leave a finished deploy without its audit lines and locks. Yields a list that holds
    the signals that arrived meanwhile; the caller says so once the block is done."""
    if threading.current_thread() is not threading.main_thread():
        yield []
        return
    arrived: list[int] = []
    previous = signal.signal(signal.SIGINT, lambda signum, frame: arrived.append(signum))
    try:
        yield arrived
    finally:
        signal.signal(signal.SIGINT, previous)
