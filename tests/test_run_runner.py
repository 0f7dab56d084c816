"""The runner (gantry.run) on plans, with a scripted host session in place of SSH.

The session double implements the engine's `Session` interface: it records every step it is asked to do and
fails where the script says. The plans are the hosts engine's real steps (gantry/engines/hosts/steps.py); the
e2e suite proves the same runner against real hosts.
"""

from __future__ import annotations

import dataclasses
import datetime
import json
import os
import signal
import threading

import pytest

from gantry.config import Environment, RolloutSettings
from gantry.engines.hosts import steps as host_steps
from gantry.errors import HostError, Interrupted
from gantry.health import Failed, Healthy
from gantry.plan import LiveRelease
from gantry.release import make_release
from gantry.run import Runner
from gantry.run.state import RunContext

NOW = datetime.datetime(2026, 12, 1, 12, 0, tzinfo=datetime.timezone.utc)
OLD_COMPOSE = "services:\n  web:\n    image: r/web:1\n"
NEW_COMPOSE = "services:\n  web:\n    image: r/web:2\n"


def release(compose: str, when: datetime.datetime = NOW):
    return make_release(environment="prod", project="p", compose_yaml=compose, env_file="", sources=(),
                        images={"web": "r/web:2"}, secret_fingerprints={}, git_commit="", now=when, who="t")


OLD = release(OLD_COMPOSE, NOW - datetime.timedelta(days=1))
NEW = release(NEW_COMPOSE)


@dataclasses.dataclass
class Facts:
    current: str = ""
    releases: tuple[str, ...] = ()
    lock: object | None = None
    locked_by_us: bool = False
    containers: tuple = ()


@dataclasses.dataclass
class Check:
    problems: tuple = ()


SENT: list[str] = []
SENT_LOCK = threading.Lock()


class ScriptedHost:
    """A host session that does what the script says: {(kind, release): "fail" | "lost" | "interrupt"}."""

    def __init__(self, host: str, script: dict, cancel: threading.Event, current: str = OLD.id) -> None:
        self.host, self.script, self.cancel = host, script, cancel
        self.facts = Facts(current, (current,) if current else ())
        self.preflight, self.image_facts, self.timings, self.spans, self.checked = None, {}, {}, [], {}
        self.log: list[str] = []
        self.audit: list[dict] = []
        self.lost = False
        self.unlocked = False

    def _reach(self) -> None:
        if self.lost:
            raise HostError(self.host, "ssh", "connection lost")

    def connect(self) -> None:
        self._reach()

    def observe(self):
        self._reach()
        return self.facts

    def live(self, specs) -> LiveRelease:
        old = {OLD.id: OLD, NEW.id: NEW}.get(self.facts.current)
        return LiveRelease(self.facts.current, old.compose_yaml if old else "",
                           json.dumps(old.manifest) if old else "", "", self.facts.releases)

    def lock(self, info_json, *, wait=0.0, preflight=True, images=()):
        self._reach()
        self.facts.locked_by_us = True
        return self.facts

    def unlock(self) -> None:
        self._reach()
        self.unlocked = True

    def lock_holder(self, now) -> str:
        return "someone"

    def read_audit(self):
        return ()

    def verify(self, rid):
        return Check()

    def execute(self, step, work):
        self._reach()
        self.log.append(("undo " if step.restoring else "") + f"{step.kind} {step.release[-4:]}")
        what = self.script.get((step.kind, step.release))
        if what == "lost":
            self.lost = True
            raise HostError(self.host, step.kind, "connection lost")
        if what == "interrupt":  # Ctrl-C arrives (in the main thread, once) while the hosts wait for health
            with SENT_LOCK:
                if not SENT:
                    SENT.append(self.host)
                    os.kill(os.getpid(), signal.SIGINT)
            self.cancel.wait(10)
            return Failed("interrupted", "web")
        if what == "fail":
            return Failed("web is unhealthy", "web")
        if step.kind == "switch":
            self.facts.current = step.release
        return Healthy() if step.kind == "wait" else None

    def slow_stops(self):
        return ()

    def diagnose(self, failed) -> str:
        return ""

    def finish(self, prune, audit_json: str) -> None:
        self._reach()
        self.audit.append(json.loads(audit_json))
        self.unlocked = True

    def close(self) -> None:
        pass


class ScriptedEngine:
    name = "scripted"

    def __init__(self, hosts, scripts, current=OLD.id):
        self.hosts, self.scripts, self.current, self.made = hosts, scripts, current, {}

    def check_ready(self) -> None:
        pass

    def sessions(self, ctx, cancel):
        self.made = {h: ScriptedHost(h, self.scripts.get(h, {}), cancel, self.current) for h in self.hosts}
        return list(self.made.values())

    def deploy_steps(self, hp, rel, live):
        return host_steps.deploy_steps(hp, rel, live)

    def rollback_steps(self, hp, live):
        return host_steps.rollback_steps(hp, live)


def runner(engine, *, batch_size=0, rollback="fleet", action="deploy", warnings=None):
    env = dataclasses.replace(Environment(project="p", deploy_path="/srv/p", name="prod"),
                              rollout=RolloutSettings(batch_size=batch_size, rollback=rollback))
    ctx = RunContext(env, "tester", "laptop", "", lambda *a: None, lambda text: text,
                     warn=(warnings.append if warnings is not None else lambda text: None), now=lambda: NOW)
    return Runner(ctx, engine, action=action)


def outcomes(result) -> dict[str, str]:
    return {h["host"]: h["outcome"] for h in result.hosts}


FORWARD = [f"upload {NEW.id[-4:]}", f"up {NEW.id[-4:]}", f"wait {NEW.id[-4:]}", f"switch {NEW.id[-4:]}"]
BACK = [f"undo up {OLD.id[-4:]}", f"undo wait {OLD.id[-4:]}"]


def test_runner_deploys_every_host_with_the_plans_steps():
    engine = ScriptedEngine(["a", "b"], {})
    result = runner(engine).deploy(NEW, ())
    assert result.exit_code == 0 and outcomes(result) == {"a": "deployed", "b": "deployed"}
    assert all(engine.made[h].log == FORWARD for h in "ab")
    assert result.plan["hosts"][0]["steps"][1]["undo"][0] == {
        "kind": "up", "release": OLD.id, "pinned": True, "restoring": True, "failing_only": False, "undo": []}
    assert [a["outcome"] for h in "ab" for a in engine.made[h].audit] == ["deployed", "deployed"]


@pytest.mark.parametrize("rule, want, logs", [
    ("fleet", {"a": "rolled-back", "b": "rolled-back", "c": "rolled-back", "d": "rolled-back", "e": "skipped"},
     {"a": FORWARD + BACK + [f"undo switch {OLD.id[-4:]}"], "c": FORWARD[:3] + BACK, "e": []}),
    ("host", {"a": "deployed", "b": "deployed", "c": "rolled-back", "d": "deployed", "e": "skipped"},
     {"a": FORWARD, "c": FORWARD[:3] + BACK, "e": []}),
], ids=["fleet-returns-every-moved-host", "host-returns-only-the-failed-one"])
def test_runner_failed_batch(rule, want, logs):
    engine = ScriptedEngine(list("abcde"), {"c": {("wait", NEW.id): "fail"}})
    result = runner(engine, batch_size=2, rollback=rule).deploy(NEW, ())
    assert result.exit_code == 3 and result.outcome == "failed"
    assert outcomes(result) == want
    for host, log in logs.items():
        assert engine.made[host].log == log, host
    assert all(s.unlocked for s in engine.made.values())  # every lock back, with an audit line each
    assert {h: s.audit[-1]["outcome"] for h, s in engine.made.items()} == want


def test_runner_interrupted_step_returns_the_moved_hosts_and_exits_130():
    SENT.clear()
    engine = ScriptedEngine(["a", "b"], {"a": {("wait", NEW.id): "interrupt"}, "b": {("wait", NEW.id): "interrupt"}})
    result = runner(engine).deploy(NEW, ())
    assert result.exit_code == Interrupted.exit_code and result.outcome == "interrupted"
    assert outcomes(result) == {"a": "rolled-back", "b": "rolled-back"}
    assert all(s.log == FORWARD[:3] + BACK for s in engine.made.values())  # waits cut short, undos not
    assert all(s.unlocked and s.audit[-1]["outcome"] == "rolled-back" for s in engine.made.values())


def test_runner_host_lost_mid_batch_keeps_its_lock_and_says_so():
    warnings: list[str] = []
    engine = ScriptedEngine(["a", "b"], {"b": {("up", NEW.id): "lost"}})
    result = runner(engine, warnings=warnings).deploy(NEW, ())
    assert result.exit_code == 3
    assert outcomes(result) == {"a": "rolled-back", "b": "failed"}
    hosts = {h["host"]: h for h in result.hosts}
    assert "connection lost" in hosts["b"]["error"] and "rollback to" in hosts["b"]["error"]
    assert engine.made["a"].log == FORWARD + BACK + [f"undo switch {OLD.id[-4:]}"] and engine.made["a"].unlocked
    assert not engine.made["b"].unlocked
    assert any("b: the deploy lock is still held" in w for w in warnings)


def test_runner_unchanged_fleet_takes_no_lock_and_runs_no_step():
    engine = ScriptedEngine(["a", "b"], {}, current=NEW.id)
    result = runner(engine).deploy(NEW, ())
    assert result.outcome == "unchanged" and result.exit_code == 0
    assert all(not s.log and not s.facts.locked_by_us and not s.audit for s in engine.made.values())


def test_runner_rollback_plan_goes_back_and_a_failing_host_returns_to_what_it_ran():
    engine = ScriptedEngine(["a", "b"], {"b": {("wait", OLD.id): "fail"}}, current=NEW.id)
    r = runner(engine, action="rollback", rollback="host")
    for session in r.runs:
        session.session.facts.releases = (OLD.id, NEW.id)
    result = r.rollback(OLD.id)
    assert result.plan["action"] == "rollback"
    assert [s["kind"] for s in result.plan["hosts"][0]["steps"]] == ["up", "wait", "switch"]
    assert outcomes(result) == {"a": "deployed", "b": "rolled-back"}
    assert engine.made["a"].log == [f"up {OLD.id[-4:]}", f"wait {OLD.id[-4:]}", f"switch {OLD.id[-4:]}"]
    assert engine.made["b"].log == [f"up {OLD.id[-4:]}", f"wait {OLD.id[-4:]}",
                                    f"undo up {NEW.id[-4:]}", f"undo wait {NEW.id[-4:]}"]
    assert engine.made["a"].facts.current == OLD.id and engine.made["b"].facts.current == NEW.id
    assert {a["event"] for s in engine.made.values() for a in s.audit} == {"rollback"}
