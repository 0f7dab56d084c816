"""fan_out and Ctrl-C: every item starts and ends with a result, and a Ctrl-C held by a caller stays the caller's."""

from __future__ import annotations

import os
import signal
import threading

from gantry.remote.fanout import fan_out, interrupts_held


def test_fanout_a_ctrl_c_inside_a_held_block_reaches_the_holder_and_every_item_runs():
    sent = threading.Event()

    def work(n: int) -> int:
        if not sent.is_set():  # the first worker: Ctrl-C while the main thread still hands out the rest
            sent.set()
            os.kill(os.getpid(), signal.SIGINT)
        return n * 2

    with interrupts_held() as arrived:
        results = fan_out(list(range(300)), work, 8, reraise=False)
    assert results == [n * 2 for n in range(300)]
    assert arrived == [signal.SIGINT]


def test_fanout_a_ctrl_c_without_a_holder_is_raised_after_every_item_ended():
    sent = threading.Event()
    cancelled = []

    def work(n: int) -> int:
        if not sent.is_set():
            sent.set()
            os.kill(os.getpid(), signal.SIGINT)
        return n

    try:
        fan_out(list(range(50)), work, 4, on_interrupt=lambda: cancelled.append(True))
    except KeyboardInterrupt as stop:
        assert stop.results == list(range(50)) and cancelled
    else:
        raise AssertionError("the Ctrl-C was lost")
