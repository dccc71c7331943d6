"""The back-off schedule shared by the board reconnect and the serial reopen (pure, fake clock)."""

from __future__ import annotations

import pytest

from edge.backoff import Backoff


def test_failures_double_the_wait_up_to_the_cap_and_reset_starts_over():
    b = Backoff(0.5, 4.0)
    now = 100.0
    assert b.ready(now) and not b.pending
    waits = []
    for _ in range(6):
        waits.append(b.failed(now))
        assert not b.ready(now) and b.pending
        assert not b.ready(now + waits[-1] - 1e-9) and b.ready(now + waits[-1])
        now += waits[-1]
    assert waits == [0.5, 1.0, 2.0, 4.0, 4.0, 4.0]
    b.reset()
    assert b.ready(now) and not b.pending and b.failed(now) == 0.5


def test_schedule_keeps_the_delay_and_clear_keeps_it_too():
    b = Backoff(0.25, 1.0)
    assert b.schedule(10.0) == 0.25 and b.due == 10.25 and b.delay == 0.25
    assert b.failed(10.25) == 0.25 and b.delay == 0.5
    b.clear()  # an attempt worked, but no data yet: the next fault still waits longer
    assert b.ready(0.0) and b.failed(20.0) == 0.5 and b.due == 20.5


def test_bad_schedule_is_refused():
    with pytest.raises(ValueError, match="initial <= max"):
        Backoff(2.0, 1.0)
    with pytest.raises(ValueError):
        Backoff(0.0, 1.0)
