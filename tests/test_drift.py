"""drift.find_drift, pure: facts + the release + what the containers run -> drift items."""

from __future__ import annotations

import datetime

import pytest

from gantry.engines.hosts.drift import Running, find_drift, parse_details
from gantry.engines.hosts.facts import Container, HostFacts, LockInfo

NOW = datetime.datetime(2026, 12, 1, 12, 0, tzinfo=datetime.timezone.utc)
COMPOSE = "services:\n  web:\n    image: reg:5000/web:1\n"
DIGEST = "reg:5000/web@sha256:" + "a" * 64
MANIFEST = {"resolved_images": {"reg:5000/web:1": DIGEST}}
FACTS = HostFacts(current="r1", releases=("r1",), containers=(Container("p-web-1", "web", "running"),))


def run(facts=FACTS, *, image_digests=(DIGEST,), config="h1", extra=()):
    running = (Running("p-web-1", "web", "sha256:img", config), *extra)
    return {(d.kind, d.service) for d in find_drift(facts, COMPOSE, MANIFEST, {"web": "h1"}, running,
                                                    {"sha256:img": tuple(image_digests)}, now=NOW, lock_limit=600)}


@pytest.mark.parametrize("kwargs, want", [
    ({}, set()),
    ({"image_digests": ("reg:5000/web@sha256:" + "b" * 64,)}, {("image", "web")}),
    ({"config": "h2"}, {("config", "web")}),
    ({"extra": (Running("x", "x", "sha256:img", ""),)}, {("extra", "x")}),
], ids=["clean", "other-image", "other-config", "extra"])
def test_drift_per_container(kwargs, want):
    assert run(**kwargs) == want


@pytest.mark.parametrize("since, stale", [
    ("2026-12-01T11:55:00+00:00", False), ("2026-12-01T11:00:00+00:00", True), ("yesterday", True),
], ids=["fresh", "old", "unreadable"])
def test_drift_lock_age(since, stale):
    facts = HostFacts(current="r1", releases=("r1",), lock=LockInfo("ci", since, "r2", "", since),
                      containers=FACTS.containers)
    assert (("stale-lock", "") in run(facts)) is stale


def test_drift_missing_release_and_no_release():
    assert run(HostFacts(current="r9", releases=("r1",))) == {("current-missing", "")}
    assert run(HostFacts(containers=FACTS.containers)) == {("no-release", "")}
    assert run(HostFacts()) == set()


def test_drift_parses_the_details_sections():
    text = ("--gantry:config-hash\nweb h1\n--gantry:containers\n"
            '"/p-web-1" "sha256:img" {"com.docker.compose.service": "web", "com.docker.compose.config-hash": "h1"}\n'
            '"/p-run-1" "sha256:img" {"com.docker.compose.service": "web", "com.docker.compose.oneoff": "True"}\n'
            f'--gantry:images\n"sha256:img" ["{DIGEST}"]\n--gantry:drift-end\n')
    hashes, running, images = parse_details(text)
    assert hashes == {"web": "h1"} and running == (Running("p-web-1", "web", "sha256:img", "h1"),)
    assert images == {"sha256:img": (DIGEST,)}


@pytest.mark.parametrize("waited_for, exit_code, want", [
    (True, 0, set()),
    (True, 3, {("not-running", "job")}),
    (False, 0, {("not-running", "job")}),
], ids=["job-done", "job-failed", "stopped-service-without-dependents"])
def test_drift_a_finished_one_shot_job_is_not_drift(waited_for, exit_code, want):
    compose = "services:\n  job:\n    image: reg:5000/web:1\n    restart: \"no\"\n  api:\n    image: reg:5000/web:1\n"
    if waited_for:
        compose += "    depends_on:\n      job:\n        condition: service_completed_successfully\n"
    facts = HostFacts(current="r1", releases=("r1",),
                      containers=(Container("p-job-1", "job", "exited", exit_code=exit_code),
                                  Container("p-api-1", "api", "running")))
    running = (Running("p-job-1", "job", "sha256:img", ""), Running("p-api-1", "api", "sha256:img", ""))
    found = find_drift(facts, compose, {}, {}, running, {}, now=NOW, lock_limit=600)
    assert {(d.kind, d.service) for d in found} == want


@pytest.mark.parametrize("compose_yaml", [
    "a: &a [" + ",".join(["x"] * 10) + "]\n" + "".join(f"a{i}: &a{i} [" + ",".join([f"*a{i - 1}" if i else "*a"] * 10)
                                                          + "]\n" for i in range(8)),
    "services:\n  web: {image: a}\n  web: {image: b}\n",
], ids=["alias-bomb", "duplicate-key"])
def test_drift_reads_a_hosts_compose_file_with_the_one_yaml_reader(compose_yaml):
    """A release file read back from a host goes through yamlio's limits: refused, so the release has no services."""
    found = find_drift(FACTS, compose_yaml, MANIFEST, {}, (Running("p-web-1", "web", "sha256:img", "h1"),),
                       {"sha256:img": (DIGEST,)}, now=NOW, lock_limit=600)
    assert {(d.kind, d.service) for d in found} == {("extra", "web")}
