"""App matrix on two lab hosts: services without a health check, a service_healthy chain, a SIGTERM-ignoring
PID 1. Each app: deploy v1, v2, a broken v3 (exit 3, hosts stay on v2), rollback to v1, hosts checked over SSH."""

from __future__ import annotations

import pytest

from tests.apptools import deploy, make_app, story

pytestmark = pytest.mark.e2e


def test_e2e_app_without_health_checks(apps_lab, apps_lab_root, tmp_path):
    """`plain` has no healthcheck, `unchecked` has `healthcheck: {disable: true}`: both judged by the settle rule."""
    app = make_app(tmp_path, "nohealth", apps_lab_root)

    def check(stage, seen):
        for by_service in seen.values():
            assert {c.health for cs in by_service.values() for c in cs} == {""}  # no health status at all

    story(app, apps_lab, {"plain": 1, "unchecked": 1}, failing="plain", says="plain: bad config in v3", check=check)


def test_e2e_app_service_healthy_chain_of_three(apps_lab, apps_lab_root, tmp_path):
    app = make_app(tmp_path, "chain", apps_lab_root)

    def check(stage, seen):
        for by_service in seen.values():
            assert {c.health for cs in by_service.values() for c in cs} == {"healthy"}

    story(app, apps_lab, {"db": 1, "cache": 1, "api": 1}, failing="db", says="db: data directory has the wrong version",
          check=check)


def test_e2e_app_ignoring_sigterm_deploys_and_says_how_to_fix(apps_lab, apps_lab_root, tmp_path):
    app = make_app(tmp_path, "sigterm", apps_lab_root)
    deploy(app, "1")
    doc, err = deploy(app, "2")  # recreates both: stubborn sits out its 3 s stop_grace_period, polite does not
    assert doc["outcome"] == "ok"
    assert "service stubborn took its full stop timeout" in err and "init: true" in err and "stop_signal" in err
    assert "service polite took" not in err
    assert {tuple(h["slow_stops"]) for h in doc["hosts"]} == {("stubborn",)}
    doc, err = deploy(app, "2")  # nothing to change: nothing stopped, nothing said
    assert doc["outcome"] == "unchanged" and "stop timeout" not in err
