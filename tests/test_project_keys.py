"""Containers are keyed on compose project + service: the parsers read the project label, and the health verdict
and drift never mix two projects' (or two colours') containers that share a service name."""

from __future__ import annotations

import datetime
import json
from pathlib import Path

import pytest

from gantry.engines.hosts.drift import Running, find_drift
from gantry.engines.hosts.facts import Container, HealthPoll, HostFacts, parse_inspect, parse_poll, parse_ps
from gantry.health import Failed, Healthy, MixedProjects, Observer, Pending, ServiceSpec, by_service, verdict

CAPTURED = Path(__file__).parent / "captured"
WEB = ServiceSpec("web", has_healthcheck=True, budget=10)


def box(project, health, name=None, state="running"):
    return Container(name or f"{project}-web-1", "web", state, health, id=name or f"{project}-web", project=project)


def test_project_keys_parsers_read_the_project_label():
    assert {c.project for c in parse_inspect((CAPTURED / "container-inspect-docker20.10.json").read_text())} == {"cap"}
    row = {"ID": "x", "Name": "a-b-c-web-1", "Project": "a-b-c", "Service": "web", "State": "running",
           "Status": "Up 3 seconds (healthy)", "Ports": ""}
    assert [(c.project, c.service, c.health) for c in parse_ps(json.dumps(row))] == [("a-b-c", "web", "healthy")]


def _inspect(cid, project, health):
    return {"Id": cid, "Name": f"/{project}-web-1", "RestartCount": 0,
            "State": {"Status": "running", "Health": {"Status": health}, "StartedAt": "2026-12-01T10:00:00Z"},
            "Config": {"Labels": {"com.docker.compose.project": project, "com.docker.compose.service": "web"}}}


# One poll holding two projects' `web` (the same service name): `a-b`+`c` healthy, `a`+`b-c` unhealthy.
POLL_TEXT = ("--gantry:now\n1796119300.0\n--gantry:ps\n"
             + json.dumps([_inspect("1", "a-b-c", "healthy"), _inspect("2", "a-_b_dc", "unhealthy")])
             + "\n--gantry:end\n")


@pytest.mark.parametrize("project, want", [
    ("a-b-c", Healthy),
    ("a-_b_dc", Failed),
    (None, Failed),  # not said which: refused, never judged on the other project's container
    ("other", Pending),  # no container of its own yet
], ids=["healthy-project", "unhealthy-project", "unnamed-mixed", "absent-project"])
def test_project_keys_verdict_on_a_poll_of_two_projects(project, want):
    poll = parse_poll(POLL_TEXT)
    assert poll is not None and len(poll.containers) == 2
    got = Observer().judge(poll, (WEB,), 0.0, 3.0, project)
    assert isinstance(got, want), got
    if project is None:
        assert "a-_b_dc" in got.reason and "a-b-c" in got.reason


def test_project_keys_replicas_are_counted_per_project():
    spec = ServiceSpec("web", has_healthcheck=True, replicas=2)
    two = (box("p-blue", "healthy"), box("p-green", "healthy"))  # one replica each: neither colour has two
    assert not isinstance(verdict(two, (spec,), {}, 0.0, 0.0, "p-blue"), Healthy)
    assert isinstance(verdict((box("p-blue", "healthy"), box("p-blue", "healthy", "p-blue-web-2")), (spec,), {},
                              0.0, 0.0, "p-blue"), Healthy)


def test_project_keys_one_project_without_naming_it_is_judged_as_before():
    assert isinstance(verdict((box("a", "healthy"),), (WEB,), {}, 0.0, 0.0), Healthy)
    assert isinstance(Observer().judge(HealthPoll((box("", "healthy"),)), (WEB,), 0.0, 3.0), Healthy)


def test_project_keys_by_service_groups_within_one_project():
    items = (box("a", "healthy"), box("b", "healthy"))
    assert [c.project for c in by_service(items, "b")["web"]] == ["b"]
    with pytest.raises(MixedProjects):
        by_service(items)
    assert by_service(()) == {}


NOW = datetime.datetime(2026, 12, 1, 12, 0, tzinfo=datetime.timezone.utc)
COMPOSE = "services:\n  web:\n    image: reg:5000/web:1\n"


@pytest.mark.parametrize("project, want", [
    ("a-b-c", set()),
    ("a-_b_dc", {("config", "web")}),
    (None, {("mixed", "")}),
], ids=["first-project", "second-project", "unnamed-mixed"])
def test_project_keys_drift_judges_one_project(project, want):
    facts = HostFacts(current="r1", releases=("r1",), containers=(box("a-b-c", "healthy"), box("a-_b_dc", "")))
    running = (Running("a-b-c-web-1", "web", "sha256:i", "h1", "a-b-c"),
               Running("a-_b_dc-web-1", "web", "sha256:i", "h0", "a-_b_dc"))
    got = find_drift(facts, COMPOSE, {}, {"web": "h1"}, running, {}, now=NOW, lock_limit=600, project=project)
    assert {(d.kind, d.service) for d in got} == want
