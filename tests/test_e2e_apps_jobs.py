"""App matrix on two lab hosts: a one-shot job others depend on (and one that fails), and three replicas (one
crash-looping). Each app: deploy v1, v2, a broken v3 (exit 3, hosts stay on v2), rollback to v1, checked over SSH."""

from __future__ import annotations

import pytest

from tests.apptools import containers, make_app, story

pytestmark = pytest.mark.e2e


def test_e2e_app_one_shot_job_dependency(apps_lab, apps_lab_root, tmp_path):
    """`api` waits for `migrate` (service_completed_successfully); v3's migration exits 3 and the deploy
    fails naming it, with its last log lines."""
    app = make_app(tmp_path, "oneshot", apps_lab_root)

    def check(stage, seen):
        for host in apps_lab.hosts:
            (job,) = [c for c in containers(apps_lab, host, app) if c.service == "migrate"]
            assert job.state == "exited" and job.version == {"v1": "1", "v2": "2", "v3": "2", "rollback": "1"}[stage]
            assert seen[host.name]["api"][0].health == "healthy"

    story(app, apps_lab, {"api": 1}, failing="migrate", says="ERROR: migration 0003 failed: relation users is locked",
          check=check)


def test_e2e_app_three_replicas_each_judged(apps_lab, apps_lab_root, tmp_path):
    app = make_app(tmp_path, "replicas", apps_lab_root)

    def check(stage, seen):
        for by_service in seen.values():
            assert len({c.name for c in by_service["api"]}) == 3
            assert all(c.restarts == 0 and c.health == "healthy" for c in by_service["api"])

    story(app, apps_lab, {"api": 3}, failing="api", says="api: cannot bind worker slot", check=check)
