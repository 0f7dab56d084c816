"""`gantry drift` on a real lab host: what runs versus the `current` release, changed behind Gantry's back."""

from __future__ import annotations

import json
import subprocess
from pathlib import Path

import pytest

from tests.labtools import lab_or_skip, project_with_lab_secrets, run_checked

REPO = Path(__file__).resolve().parent.parent
CANARY_DB, CANARY_API = "canary-db-drift-41c9e2", "canary-api-drift-9d03aa"
BASE = "/srv/gantry/gantry-example/lab"
PROJECT = "gantry-example-lab"

pytestmark = pytest.mark.e2e


@pytest.fixture(scope="module")
def project(tmp_path_factory):
    return project_with_lab_secrets(tmp_path_factory.mktemp("project"),
                                    {"DB_PASSWORD": CANARY_DB, "API_TOKEN": CANARY_API})


@pytest.fixture(scope="module")
def lab(project):
    yield from lab_or_skip(project, 1)


def gantry(project, *args, code=None):
    return run_checked(project, (CANARY_DB, CANARY_API), *args, code=code)


def on_host(lab, script: str) -> str:
    from gantry.lab import ssh_argv
    from gantry.shell import render

    out = subprocess.run(ssh_argv(lab, lab.hosts[0], render(("sh", "-c", script))), capture_output=True, text=True,
                         timeout=120)
    assert out.returncode == 0, out.stderr
    return out.stdout


def drift(project) -> list[dict]:
    proc = gantry(project, "drift", "--env", "lab", "--json")
    doc = json.loads(proc.stdout)
    assert proc.returncode == (6 if doc["drift"] else 0)
    (host,) = doc["hosts"]
    return host["drift"]


def kinds(items) -> set[tuple[str, str]]:
    return {(d["kind"], d["service"]) for d in items}


def test_e2e_drift_none_right_after_a_deploy(project, lab):
    gantry(project, "deploy", "--env", "lab", "--yes", code=0)
    proc = gantry(project, "drift", "--env", "lab", code=0)
    assert f"{lab.hosts[0].name} (" in proc.stdout and "no drift" in proc.stdout


def test_e2e_drift_a_stopped_container(project, lab):
    on_host(lab, f"docker stop -t 1 {PROJECT}-worker-1")
    assert kinds(drift(project)) == {("not-running", "worker")}
    on_host(lab, f"docker start {PROJECT}-worker-1")
    assert drift(project) == []


def test_e2e_drift_a_container_recreated_from_another_config(project, lab):
    # Someone edits the release's .env on the host and runs compose by hand, then puts the file back.
    on_host(lab, f"cd {BASE}/current && cp .env /tmp/env.bak && "
                 "sed -i 's/^API_TOKEN=.*/API_TOKEN=changed-by-hand-123/' .env && "
                 f"docker compose -p {PROJECT} --project-directory \"$(readlink -f .)\" -f compose.yaml "
                 "--env-file .env up -d --no-build --quiet-pull && cp /tmp/env.bak .env")
    items = drift(project)
    assert ("config", "worker") in kinds(items) and ("config", "web") not in kinds(items)


def test_e2e_drift_an_extra_container_a_stale_lock_and_text_output(project, lab):
    on_host(lab, f"docker run -d --name rogue --label com.docker.compose.project={PROJECT} "
                 "--label com.docker.compose.service=rogue --label com.docker.compose.oneoff=False "
                 "--entrypoint sleep $(docker ps --filter name=" + PROJECT + "-web-1 --format '{{.Image}}') 600")
    on_host(lab, f"mkdir -p {BASE}/lock && printf '%s' "
                 "'{\"holder\": \"ci@runner-7\", \"since\": \"2026-01-01T00:00:00+00:00\", \"release\": \"x\"}' "
                 f"> {BASE}/lock/info.json")
    items = drift(project)
    assert {("extra", "rogue"), ("stale-lock", "")} <= kinds(items)
    text = gantry(project, "drift", "--env", "lab", code=6).stdout
    assert "stale-lock" in text and "ci@runner-7" in text and "container rogue is not in release" in text
    on_host(lab, f"docker rm -f rogue && rm -rf {BASE}/lock")


def test_e2e_drift_current_pointing_at_a_missing_release(project, lab):
    on_host(lab, f"ln -sfn releases/20260101T000000Z-gone {BASE}/current.tmp && mv -T {BASE}/current.tmp "
                 f"{BASE}/current")
    assert kinds(drift(project)) == {("current-missing", "")}
