"""lock_holder: who holds a lock, since when and how long ago."""

from __future__ import annotations

import datetime

import pytest

from gantry.engines.hosts.facts import LockInfo
from gantry.engines.hosts.session import lock_holder

NOW = datetime.datetime(2026, 11, 25, 12, 0, 0, tzinfo=datetime.timezone.utc)


@pytest.mark.parametrize("since,want", [
    ("2026-11-25T11:59:18+00:00", "alice@ci since 2026-11-25T11:59:18+00:00 (42 s ago) for release R"),
    ("2026-11-25T11:53:00+00:00", "alice@ci since 2026-11-25T11:53:00+00:00 (7 min ago) for release R"),
    ("2026-11-23T09:00:00+00:00", "alice@ci since 2026-11-23T09:00:00+00:00 (2 d ago) for release R"),
    ("yesterday", "alice@ci since yesterday for release R"),
], ids=["seconds", "minutes", "days", "unreadable-time"])
def test_lock_holder_says_how_old_the_lock_is(since, want):
    assert lock_holder(LockInfo(holder="alice@ci", since=since, release="R"), NOW) == want


def test_lock_holder_without_now_has_no_age():
    assert lock_holder(LockInfo(holder="a@b", since="2026-11-25T11:59:18+00:00", release="R")) == \
        "a@b since 2026-11-25T11:59:18+00:00 for release R"
