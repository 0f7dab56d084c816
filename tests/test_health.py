import threading

import pytest

from gantry.facts import Container
from gantry.health import Failed, Healthy, Pending, ServiceSpec, parse_duration, service_specs, verdict, wait_healthy

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
