"""Faults in what runs the containers: an engine stopped or killed, the registry gone, a host rebooted."""

from __future__ import annotations

import signal

import pytest

pytestmark = pytest.mark.e2e


def _left_on(fl, release: str, *, down: int) -> None:
    """Every host's `current` still names `release`; all but host `down` are healthy on it."""
    for i, s in enumerate(fl.hosts(), start=1):
        assert s.current == release, f"{s.name} switched to {s.current}"
        assert not s.lock, f"{s.name} is still locked: {s.lock}"
        if i != down:
            assert s.healthy, f"{s.name}: {s.services}"


def _engine_fault(fl, scenario: str, version: str, host: int, when, sig: int, what: str) -> None:
    kept = fl.kept()
    before = fl.converged()
    run = fl.deploy_until(version, when, lambda p: fl.stop_dockerd(host, sig))
    assert run.code == 3, run.stderr
    assert f"lab-{host}" in run.stderr
    _left_on(fl, before, down=host)
    fl.reboot(host)  # the operator brings the engine back
    _, again = fl.deploy(version)
    fl.converged(again["release"], history=kept)
    fl.record(scenario, what, run.code, release=run.doc["release"], after=run.fired,
              note=f"fleet back on {fl.label(before)}; engine restarted, redeploy exit 0")


def test_fault_04a_dockerd_stopped_on_a_host_before_its_batch(fl):
    _engine_fault(fl, "4a", "2", 2, lambda h, s, st: (h, s, st) == ("lab-2", "lock", "ok"), signal.SIGTERM,
                  "lab-2 dockerd stopped before its batch")


def test_fault_04b_dockerd_killed_during_a_health_wait(fl):
    _engine_fault(fl, "4b", "3", 3, lambda h, s, st: (h, s, st) == ("lab-3", "health", "..."), signal.SIGKILL,
                  "lab-3 dockerd killed in its health wait")


def test_fault_05_registry_unreachable_during_the_pull(fl):
    kept = fl.kept()
    before = fl.converged()
    image = fl.push_tag("fault5")
    fl.registry(up=False)
    try:
        proc, doc = fl.deploy("5", env={"WEB_TAG": "fault5"}, check=3)
    finally:
        fl.registry(up=True)
    failed = [h for h in doc["hosts"] if h["error"]]
    assert [h["host"] for h in failed] == ["lab-1"], doc["hosts"]
    assert image in failed[0]["error"] and "lab-1" in proc.stderr, failed[0]["error"]
    assert doc["hosts"][1]["outcome"] == doc["hosts"][2]["outcome"] == "skipped"
    fl.converged(before, history=kept)
    fl.record("5", "registry stopped before lab-1's pull", proc.returncode, release=doc["release"],
              note="pull retried, failed naming the image; nothing switched")


def test_fault_14_host_rebooted_during_a_deploy(fl):
    kept = fl.kept()
    before = fl.converged()
    run = fl.deploy_until("6", lambda h, s, st: (h, s, st) == ("lab-2", "up", "..."), lambda p: fl.reboot(2))
    assert run.code in (3, 4), run.stderr
    assert "lab-2" in run.stderr
    states = fl.hosts()
    assert {s.current for s in states} == {before}, [s.current for s in states]
    released = ""
    if any(s.lock for s in states):  # a host that could not be reached at the end keeps its lock, and we said so
        assert "lock.release" in run.stderr
        released = fl.inv("lock.release", "--env", "lab", check=0).stdout
    _, again = fl.deploy("6")
    fl.converged(again["release"], history=kept)
    fl.record("14", "lab-2 rebooted (dockerd + sshd) in its up", run.code, release=run.doc["release"],
              after=run.fired, note="redeploy exit 0" + (" after lock.release" if released else ""))
