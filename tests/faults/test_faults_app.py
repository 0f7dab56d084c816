"""Faults in the release itself (a crash loop, a slow start) and a deploy killed outright (SIGKILL)."""

from __future__ import annotations

import json
import re
import signal
import time

import pytest

pytestmark = pytest.mark.e2e


def test_fault_06_crash_loop_with_restart_always_fails_at_the_first_restart(fl):
    kept = fl.kept()
    before = fl.converged()
    proc, doc = fl.deploy("6", env={"WEB_PRESTART": "exit 1", "WEB_RESTART": "always"}, check=3)
    first = doc["hosts"][0]
    assert first["host"] == "lab-1" and first["outcome"] == "rolled-back", first
    # The verdict is the crash itself, not the health deadline running out.
    assert "restart" in first["error"] and "within" not in first["error"], first["error"]
    assert first["failing_service"] == "web"
    fl.converged(before, history=kept)
    fl.record("6", "web crash-loops (restart: always)", proc.returncode, release=doc["release"],
              note=f"failed after {first['steps'].get('health', 0):.1f} s of health wait; rolled back")


def test_fault_07_slow_health_check_inside_start_period_is_not_rolled_back(fl):
    kept = fl.kept()
    proc, doc = fl.deploy("7", env={"WEB_PRESTART": "sleep 6", "WEB_START_PERIOD": "30s"}, check=0)
    assert {h["outcome"] for h in doc["hosts"]} == {"deployed"}
    fl.converged(doc["release"], history=kept)
    fl.record("7", "web healthy only after 6 s (start_period 30 s)", proc.returncode, release=doc["release"],
              note="not rolled back")


def test_fault_09_sigkill_during_the_health_wait_leaves_a_held_lock_then_recovers(fl):
    kept = fl.kept()
    before = fl.converged()
    run = fl.deploy_signalled("9", lambda h, s, st: (h, s, st) == ("lab-1", "health", "..."), signal.SIGKILL)
    assert run.code == -signal.SIGKILL
    states = fl.hosts()
    # The documented state: every lock still held, naming this deploy; `current` unchanged everywhere.
    rid = re.search(r"deploying (\S+) to lab", run.stderr)[1]
    for s in states:
        assert s.lock and json.loads(s.lock)["release"] == rid, s.lock
        assert s.current == before
    time.sleep(1.1)  # so that the lock's age is at least a second
    status = fl.inv("status", "--env", "lab", check=0)
    assert status.stdout.count("ago) for release") == 3, status.stdout
    shown = json.loads(fl.inv("status", "--env", "lab", "--json", check=0).stdout)
    assert all(" ago) " in h["lock"] for h in shown["hosts"]), shown
    fl.record("9", "SIGKILL to inv deploy", run.code, after=run.fired,
              note="documented state: locks held, current unchanged, lab-1 runs unverified containers")
    fl.inv("lock.release", "--env", "lab", check=0)
    _, doc = fl.deploy("9")
    fl.converged(doc["release"], history=kept)
    fl.record("9", "then: inv lock.release + redeploy", 0, release=doc["release"], note="converged")
