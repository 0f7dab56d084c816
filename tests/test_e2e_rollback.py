"""Rollback on two lab hosts: back to what ran before (skipping same-content releases), a dry run, a target
that is incomplete on one host (exit 1, no host changed), hosts that disagree (stop before any change)."""

from __future__ import annotations

import json

import pytest

from tests.apptools import deploy, inv, live_release, make_app, rollback, sh, ssh

pytestmark = pytest.mark.e2e
IDS: dict[str, str] = {}


@pytest.fixture(scope="module")
def app(apps_lab, apps_lab_root, tmp_path_factory):
    return make_app(tmp_path_factory.mktemp("apps"), "nohealth", apps_lab_root)


def _live(apps_lab, app) -> set[str]:
    return {live_release(apps_lab, h, app) for h in apps_lab.hosts}


def _audit_lines(apps_lab, app) -> list[int]:
    return [len(ssh(apps_lab, h, "cat", f"{app.base}/deploys.jsonl").stdout.splitlines()) for h in apps_lab.hosts]


def test_e2e_rollback_goes_back_to_what_ran_before(apps_lab, app):
    IDS["v1"] = deploy(app, "1")[0]["release"]
    IDS["v2"] = deploy(app, "2")[0]["release"]
    assert rollback(app)[0]["release"] == IDS["v1"]
    IDS["v2b"] = deploy(app, "2")[0]["release"]  # the same content as v2, a new release id
    assert IDS["v2b"] != IDS["v2"] and IDS["v2b"][-10:] == IDS["v2"][-10:]
    doc, _ = rollback(app)
    assert doc["release"] == IDS["v1"], doc  # not the older v2: its content is what was just running
    assert _live(apps_lab, app) == {IDS["v1"]}


def test_e2e_rollback_dry_run_changes_nothing(apps_lab, app):
    before = _audit_lines(apps_lab, app)
    proc = inv(app, "rollback", "--env", "lab", "--dry-run", check=0)
    for host in apps_lab.hosts:
        assert f"{host.name}: {IDS['v1']} -> {IDS['v2b']}" in proc.stdout, proc.stdout
    assert _live(apps_lab, app) == {IDS["v1"]} and _audit_lines(apps_lab, app) == before


def test_e2e_rollback_verifies_every_host_before_changing_any(apps_lab, app):
    before = _audit_lines(apps_lab, app)
    victim = apps_lab.hosts[1]
    assert ssh(apps_lab, victim, "rm", f"{app.base}/releases/{IDS['v2b']}/.env").returncode == 0
    _, proc = rollback(app, "--to", IDS["v2b"], check=1)
    assert f"{victim.name}: release {IDS['v2b']}: .env is missing" in proc.stderr, proc.stderr
    assert "nothing was changed" in proc.stderr and "Traceback" not in proc.stderr
    assert _live(apps_lab, app) == {IDS["v1"]} and _audit_lines(apps_lab, app) == before
    # an altered file is caught as well
    edited = f"{app.base}/releases/{IDS['v2']}/compose.yaml"
    assert sh(apps_lab, apps_lab.hosts[0], f"echo '# edited' >> {edited}").returncode == 0
    _, proc = rollback(app, "--to", IDS["v2"], check=1)
    assert f"{apps_lab.hosts[0].name}: release {IDS['v2']}: compose.yaml does not match" in proc.stderr, proc.stderr
    assert _live(apps_lab, app) == {IDS["v1"]}
    # a free lock afterwards: the next command is not blocked
    assert all(ssh(apps_lab, h, "test", "-e", f"{app.base}/lock").returncode != 0 for h in apps_lab.hosts)


def test_e2e_rollback_stops_when_hosts_disagree(apps_lab, app):
    # lab-2's trail says it ran v2 (not v2b) before v1, as after a deploy that reached only that host
    extra = [{"event": "deploy", "release": r, "previous": "", "outcome": "deployed"} for r in (IDS["v2"], IDS["v1"])]
    lines = "".join(json.dumps(r) + "\n" for r in extra)
    assert sh(apps_lab, apps_lab.hosts[1], f"cat >> {app.base}/deploys.jsonl <<'EOF'\n{lines}EOF\n").returncode == 0
    before = _audit_lines(apps_lab, app)
    _, proc = rollback(app, check=2)
    assert "the hosts disagree on their previous release" in proc.stderr and "--to" in proc.stderr, proc.stderr
    assert f"{apps_lab.hosts[0].name}: runs {IDS['v1']}, before it ran {IDS['v2b']}" in proc.stderr
    assert f"{apps_lab.hosts[1].name}: runs {IDS['v1']}, before it ran {IDS['v2']}" in proc.stderr
    assert _live(apps_lab, app) == {IDS["v1"]} and _audit_lines(apps_lab, app) == before


def test_e2e_repair_deploy_keeps_the_rollback_target(apps_lab, apps_lab_root, tmp_path):
    """A deploy of unchanged content that restarts a container one host lost: that host keeps its live release
    (the audit names it), nothing is pruned, and `inv rollback` still goes back to what ran before."""
    repair = make_app(tmp_path, "repair", apps_lab_root, keep=2)
    v1 = deploy(repair, "1")[0]["release"]
    v2 = deploy(repair, "2")[0]["release"]
    lost = apps_lab.hosts[1]
    assert ssh(apps_lab, lost, "docker", "stop", "--", f"{repair.project}-plain-1").returncode == 0
    plan = inv(repair, "plan", "--env", "lab", env={"VERSION": "2", "BROKEN": "0"}, check=6)  # what deploy will do
    assert f"{lost.name}: repair" in plan.stdout and f"{apps_lab.hosts[0].name}: unchanged" in plan.stdout, plan.stdout
    doc, _ = deploy(repair, "2")
    assert doc["outcome"] == "ok" and doc["release"] == v2, doc
    assert {h["host"]: h["outcome"] for h in doc["hosts"]} == {apps_lab.hosts[0].name: "unchanged",
                                                              lost.name: "deployed"}, doc
    for host in apps_lab.hosts:
        lines = ssh(apps_lab, host, "cat", f"{repair.base}/deploys.jsonl").stdout.splitlines()
        audit = [json.loads(line) for line in lines]
        assert audit[-1]["release"] == v2, audit[-1]
        kept = ssh(apps_lab, host, "ls", f"{repair.base}/releases").stdout.split()
        assert {v1, v2} <= set(kept), kept
    doc, _ = rollback(repair)
    assert doc["release"] == v1 and {live_release(apps_lab, h, repair) for h in apps_lab.hosts} == {v1}, doc
