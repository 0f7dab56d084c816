import threading

import pytest

from gantry.engines.hosts.facts import Container, HealthPoll
from gantry.health import (
    Failed,
    Healthy,
    Observer,
    Pending,
    ServiceSpec,
    next_poll,
    parse_duration,
    service_specs,
    verdict,
    wait_healthy,
)

WEB = ServiceSpec("web", has_healthcheck=True, budget=10)
WORKER = ServiceSpec("worker", has_healthcheck=False)
MIGRATE = ServiceSpec("migrate", one_shot=True)


def c(service, state="running", health="", code=0, name=None, restarts=0):
    return Container(name or f"p-{service}-1", service, state, health, code, id=name or service, restarts=restarts)


@pytest.mark.parametrize("containers, specs, since, expected", [
    ((c("web", health="healthy"),), (WEB,), {}, Healthy),
    ((c("web", health="starting"),), (WEB,), {}, Pending),
    ((c("web", health="unhealthy"),), (WEB,), {}, Failed),
    ((c("web", state="restarting"),), (WEB,), {}, Failed),
    ((c("web", state="exited", code=1),), (WEB,), {}, Failed),
    ((), (WEB,), {}, Pending),
    ((c("worker"),), (WORKER,), {"worker": 9.0}, Pending),  # running 1 s of a 3 s settle
    ((c("worker"),), (WORKER,), {"worker": 5.0}, Healthy),
    ((c("migrate", state="exited", code=0),), (MIGRATE,), {}, Healthy),
    ((c("migrate", state="exited", code=2),), (MIGRATE,), {}, Failed),
    ((c("worker", state="exited", code=0),), (WORKER,), {}, Failed),  # a long-running service must not exit
    ((c("web", health="healthy"), c("worker", state="restarting")), (WEB, WORKER), {}, Failed),
    ((c("worker", restarts=1),), (WORKER,), {"worker": 0.0}, Failed),  # crashed and came back between polls
], ids=["healthy", "starting", "unhealthy", "restarting", "exited", "no-container", "settling", "settled",
        "one-shot-done", "one-shot-failed", "daemon-exited-0", "one-of-two-fails", "restarted-between-polls"])
def test_health_verdict(containers, specs, since, expected):
    assert isinstance(verdict(containers, specs, since, 10.0, 3.0), expected)


def test_health_failed_names_service_and_container():
    v = verdict((c("web", health="unhealthy", name="app-web-1"),), (WEB,), {}, 0.0, 0.0)
    assert v == Failed("container app-web-1 is unhealthy", "web", "app-web-1")


@pytest.mark.parametrize("text, seconds", [("1m30s", 90.0), ("500ms", 0.5), ("2s", 2.0), (None, 7.0), (3, 3.0),
                                           ("1h", 3600.0)], ids=["m-s", "ms", "s", "default", "number", "h"])
def test_health_parse_duration(text, seconds):
    assert parse_duration(text, 7.0) == seconds


def test_health_specs_from_model_budget_follows_healthcheck():
    model = {"services": {
        "web": {"healthcheck": {"test": ["CMD", "true"], "interval": "2s", "timeout": "1s", "retries": 3,
                                "start_period": "10s"}, "restart": "always"},
        "job": {"restart": "no"},
        "off": {"healthcheck": {"disable": True}},
    }}
    specs = {s.name: s for s in service_specs(model)}
    assert specs["web"].has_healthcheck and specs["web"].budget == 10 + 3 * 4 and not specs["web"].one_shot
    assert specs["job"].one_shot and not specs["job"].has_healthcheck
    assert not specs["off"].has_healthcheck


def test_health_wait_fails_fast_without_waiting_out_the_deadline():
    polls = iter([(c("web", health="starting"),), (c("web", health="unhealthy"),)])
    clock = iter(range(100))
    v = wait_healthy(lambda: next(polls), (WEB,), interval=0.0, deadline=1000, settle=0,
                     clock=lambda: float(next(clock)))
    assert isinstance(v, Failed) and "unhealthy" in v.reason


def test_health_wait_times_out_as_failed():
    v = wait_healthy(lambda: (c("web", health="starting"),), (WEB,), interval=0.01, deadline=0.05, settle=0)
    assert isinstance(v, Failed) and "not healthy after" in v.reason


def test_health_wait_stops_on_cancel():
    cancel = threading.Event()
    cancel.set()
    v = wait_healthy(lambda: (c("web", health="starting"),), (WEB,), interval=0.01, deadline=100, settle=0,
                     cancel=cancel)
    assert isinstance(v, Failed) and v.reason.startswith("interrupted")


@pytest.mark.parametrize("containers, expected", [
    ((c("api", health="healthy", name="a1"), c("api", health="healthy", name="a2")), Pending),
    ((c("api", health="healthy", name="a1"), c("api", health="healthy", name="a2"),
      c("api", health="healthy", name="a3")), Healthy),
    ((c("api", health="healthy", name="a1"), c("api", state="restarting", name="a2"),
      c("api", health="healthy", name="a3")), Failed),
], ids=["two-of-three", "all-three", "one-crash-loops"])
def test_health_every_replica_judged(containers, expected):
    spec = ServiceSpec("api", has_healthcheck=True, replicas=3)
    assert isinstance(verdict(containers, (spec,), {}, 10.0, 3.0), expected)


def test_health_specs_job_and_disabled_healthcheck():
    model = {"services": {
        "api": {"restart": "always", "depends_on": {"migrate": {"condition": "service_completed_successfully"}}},
        "migrate": {"restart": "unless-stopped"},
        "plain": {"restart": "always", "healthcheck": {"disable": True, "test": ["CMD", "true"]}},
        "list": {"restart": "always", "depends_on": ["plain"]}}}
    specs = {s.name: s for s in service_specs(model)}
    assert specs["migrate"].one_shot and not specs["api"].one_shot
    assert not specs["plain"].has_healthcheck and not specs["list"].one_shot


def started(service, at, **kw):
    """A running container whose StartedAt (host clock) is `at`."""
    return Container(f"p-{service}-1", service, "running", id=service, started_at=at, **kw)


@pytest.mark.parametrize("poll, expected, wake", [
    (HealthPoll((started("worker", 96.5),), host_now=100.0), Healthy, None),  # ran 3.5 s during `up`
    (HealthPoll((started("worker", 99.0),), host_now=100.0), Pending, 2.0),  # 1 s of 3: poll again in 2 s
    (HealthPoll((started("worker", 90.0, restarts=1),), host_now=100.0), Failed, None),
    (HealthPoll((started("worker", 90.0),), host_now=None), Pending, None),  # no host clock: first seen now
    (HealthPoll((started("worker", 0.0),), host_now=100.0), Pending, None),  # no StartedAt: first seen now
], ids=["settled-during-up", "settling-wakes-at-end", "restarted", "no-host-clock", "no-started-at"])
def test_health_settle_counts_from_started_at(poll, expected, wake):
    v = Observer().judge(poll, (WORKER,), local_now=5000.0, settle=3.0)
    assert isinstance(v, expected)
    if wake is not None:
        assert v.wake == pytest.approx(wake)


def test_health_settle_overlaps_other_services_wait():
    """The worker's settle runs while web's healthcheck is still starting: one poll sees both done."""
    poll = HealthPoll((started("web", 98.0, health="healthy"), started("worker", 96.0)), host_now=100.0)
    assert isinstance(Observer().judge(poll, (WEB, WORKER), local_now=0.0, settle=3.0), Healthy)


@pytest.mark.parametrize("pending, attempt, seconds", [
    (Pending("web health is starting", starting=True), 1, 0.2),
    (Pending("web health is starting", starting=True), 3, 0.45),
    (Pending("web health is starting", starting=True), 9, 1.0),  # backed off to the interval
    (Pending("worker settling", wake=0.3), 1, 0.3),  # the settle ends before the interval: poll right then
    (Pending("worker settling", wake=5.0), 1, 1.0),
    (Pending("worker settling", wake=0.0), 1, 0.02),
    (Pending("both", starting=True, wake=0.1), 2, 0.1),
], ids=["starting-fast", "starting-backing-off", "starting-capped", "settle-ends-soon", "settle-far",
        "settle-ending-now", "earliest-wins"])
def test_health_next_poll(pending, attempt, seconds):
    assert next_poll(pending, 1.0, attempt) == pytest.approx(seconds)


def test_health_wait_first_verdict_from_the_up_round_trip():
    """A poll made in the `up` round trip gives the first verdict: no poll of its own when it is healthy."""
    calls = []
    first = HealthPoll((started("web", 1.0, health="healthy"),), host_now=5.0)
    v = wait_healthy(lambda: calls.append(1) or HealthPoll(), (WEB,), interval=1.0, deadline=10, settle=3.0,
                     first=first)
    assert isinstance(v, Healthy) and calls == []
