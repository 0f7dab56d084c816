"""End to end on real lab hosts: real sshd, real Docker Engine, real Compose v2. No fakes.

The tests run in file order as one story (v1, v2, no-change, failing v3, rollback, lock, unreachable,
unknown host key), each driving `inv` in a copy of the project as a user would.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import urllib.request
from pathlib import Path

import pytest

from tests.labtools import copy_project, lab_net, lab_or_skip

REPO = Path(__file__).resolve().parent.parent
CANARY_DB = "canary-db-7f3a91c2e5"
CANARY_API = "canary-api-0b8d44e1f6"
OUTPUTS: list[str] = []

pytestmark = pytest.mark.e2e


@pytest.fixture(scope="module")
def project(tmp_path_factory):
    root = tmp_path_factory.mktemp("project")
    copy_project(root)
    secrets = root / "secrets.lab.env"
    secrets.write_text(f"DB_PASSWORD={CANARY_DB}\nAPI_TOKEN={CANARY_API}\n")
    secrets.chmod(0o600)
    return root


@pytest.fixture(scope="module")
def lab(project):
    yield from lab_or_skip(project, 3)


def inv(project, *args, env=None, check=None):
    full_env = {k: v for k, v in os.environ.items() if k not in ("APP_VERSION", "FAIL_HEALTH")}
    full_env.update(env or {})
    full_env["NO_COLOR"] = "1"
    proc = subprocess.run(["inv", *args], cwd=project, capture_output=True, text=True, env=full_env, timeout=600)
    OUTPUTS.append(proc.stdout + proc.stderr)
    if check is not None:
        assert proc.returncode == check, f"exit {proc.returncode}\n{proc.stdout}\n{proc.stderr}"
    return proc


def ssh(lab, host, *argv):
    from gantry.lab import ssh_argv
    from gantry.shell import render

    out = subprocess.run(ssh_argv(lab, host, render(tuple(argv))), capture_output=True, text=True, timeout=60)
    OUTPUTS.append(out.stdout + out.stderr)
    return out


def version_on(host) -> str:
    with urllib.request.urlopen(f"http://{host.address}:8080/version", timeout=5) as resp:
        return resp.read().decode().strip()


def status(project) -> dict:
    proc = inv(project, "status", "--env", "lab", "--json", check=0)
    return {h["host"]: h for h in json.loads(proc.stdout)["hosts"]}


def deploy(project, version, *, fail=False, check=0, extra=()):
    env = {"APP_VERSION": version, "FAIL_HEALTH": "1" if fail else "0"}
    proc = inv(project, "deploy", "--env", "lab", "--yes", "--json", *extra, env=env, check=check)
    return proc, json.loads(proc.stdout) if proc.stdout.strip() else None


STATE: dict = {}


def test_e2e_deploy_v1_to_three_hosts(project, lab):
    proc, doc = deploy(project, "1")
    assert doc["outcome"] == "ok" and len(doc["hosts"]) == 3
    assert proc.stderr.count("no vulnerability scanner (trivy or grype)") == 1  # said once, deploy goes on
    assert {h["outcome"] for h in doc["hosts"]} == {"deployed"}
    st = status(project)
    for host in lab.hosts:
        assert version_on(host) == "1"
        assert st[host.name]["release"] == doc["release"]
        assert {c["health"] for c in st[host.name]["containers"]} == {"healthy"}
    STATE["v1"] = doc["release"]


def test_e2e_release_files_are_private_on_hosts(project, lab):
    base = f"/srv/gantry/gantry-example/lab/releases/{STATE['v1']}"
    out = ssh(lab, lab.hosts[0], "stat", "-c", "%a %n", base, f"{base}/.env", f"{base}/.env.sha256",
              f"{base}/compose.yaml")
    modes = dict(line.split(" ", 1)[::-1] for line in out.stdout.splitlines())
    assert modes[base] == "700" and modes[f"{base}/.env"] == "600" and modes[f"{base}/.env.sha256"] == "600"
    compose_text = ssh(lab, lab.hosts[0], "cat", f"{base}/compose.yaml").stdout
    assert "${DB_PASSWORD}" in compose_text and CANARY_DB not in compose_text


def test_e2e_hosts_have_their_own_filesystems(project, lab):
    other = ssh(lab, lab.hosts[1], "readlink", "/srv/gantry/gantry-example/lab/current").stdout.strip()
    assert other == f"releases/{STATE['v1']}"


def test_e2e_deploy_v2_keeps_v1(project, lab):
    _, doc = deploy(project, "2")
    assert doc["outcome"] == "ok"
    st = status(project)
    for host in lab.hosts:
        assert version_on(host) == "2"
        assert st[host.name]["release"] == doc["release"]
        assert STATE["v1"] in st[host.name]["releases"]
    STATE["v2"] = doc["release"]


def test_e2e_logs_show_each_hosts_service(project, lab):
    proc = inv(project, "logs", "--env", "lab", "--service", "web", "--lines", "3", check=0)
    sections = proc.stdout.split("== ")[1:]
    assert [s.split(" ==")[0] for s in sections] == [h.name for h in lab.hosts], proc.stdout
    assert all("gantry example web 2: listening on 8080" in s for s in sections), proc.stdout
    missing = inv(project, "logs", "--env", "lab", "--service", "nosuch", check=2)
    assert "the live release has no service 'nosuch'" in missing.stderr and "its services: web, worker" in \
        missing.stderr and "Traceback" not in missing.stderr


def test_e2e_no_change_deploy_changes_nothing(project, lab):
    _, doc = deploy(project, "2")
    assert doc["outcome"] == "unchanged"
    assert {h["outcome"] for h in doc["hosts"]} == {"unchanged"}
    assert {h["release"] for h in doc["hosts"]} == {STATE["v2"]}


def test_e2e_plan_without_change_exits_zero(project, lab):
    proc = inv(project, "plan", "--env", "lab", env={"APP_VERSION": "2"}, check=0)
    assert "changes: none" in proc.stdout


def test_e2e_plan_shows_changed_secret_by_name_and_the_service_it_recreates(project, lab):
    new_token = "canary-api-rotated-55aa"
    proc = inv(project, "plan", "--env", "lab", "--json", env={"APP_VERSION": "2", "API_TOKEN": new_token}, check=6)
    doc = json.loads(proc.stdout)
    assert doc["changes"] is True and doc["batches"] == [[h.name for h in lab.hosts]]
    for host in doc["hosts"]:
        assert host["action"] == "deploy" and host["current"] == STATE["v2"]
        assert host["secrets"] == {"added": [], "removed": [], "changed": ["API_TOKEN"]}
        assert host["services"]["recreated"] == ["worker"] and host["images"] == []
    text = inv(project, "plan", "--env", "lab", env={"APP_VERSION": "2", "API_TOKEN": new_token}, check=6)
    assert "secrets changed: API_TOKEN (" in text.stdout
    assert new_token not in proc.stdout + proc.stderr + text.stdout + text.stderr
    assert status(project)[lab.hosts[0].name]["release"] == STATE["v2"]  # a plan changes nothing


def test_e2e_plan_shows_a_compose_diff_for_a_changed_value(project, lab):
    proc = inv(project, "plan", "--env", "lab", "--json", env={"APP_VERSION": "2b"}, check=6)
    host = json.loads(proc.stdout)["hosts"][0]
    assert host["services"]["recreated"] == ["web", "worker"]
    assert '-      APP_VERSION: "2"' in host["diff"] and "+      APP_VERSION: 2b" in host["diff"]


def test_e2e_failing_v3_rolls_every_host_back_to_v2(project, lab):
    proc, doc = deploy(project, "3", fail=True, check=3)
    assert doc["outcome"] == "failed"
    assert "web" in proc.stderr and any(h.name in proc.stderr for h in lab.hosts)
    assert {h["outcome"] for h in doc["hosts"]} <= {"rolled-back"}
    st = status(project)
    for host in lab.hosts:
        assert version_on(host) == "2"
        assert st[host.name]["release"] == STATE["v2"]
        assert {c["health"] for c in st[host.name]["containers"]} == {"healthy"}
    STATE["v3"] = doc["release"]
    log = ssh(lab, lab.hosts[0], "cat", "/srv/gantry/gantry-example/lab/deploys.jsonl").stdout
    records = [json.loads(line) for line in log.splitlines()]
    v3 = [r for r in records if r["release"] == STATE["v3"]]
    assert v3 and v3[-1]["outcome"] == "rolled-back" and v3[-1]["failing_service"] == "web"


def test_e2e_rollback_returns_to_v1(project, lab):
    proc = inv(project, "rollback", "--env", "lab", "--json", check=0)
    doc = json.loads(proc.stdout)
    assert doc["outcome"] == "ok"
    st = status(project)
    for host in lab.hosts:
        assert version_on(host) == "1"
        assert st[host.name]["release"] == STATE["v1"]


def test_e2e_ctrl_c_during_deploy_leaves_every_host_healthy_and_unlocked(project, lab):
    import signal
    import time

    env = {k: v for k, v in os.environ.items() if k not in ("APP_VERSION", "FAIL_HEALTH")}
    env.update({"APP_VERSION": "7", "NO_COLOR": "1"})
    proc = subprocess.Popen(["inv", "deploy", "--env", "lab", "--yes"], cwd=project, env=env, text=True,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    seen = []
    deadline = time.monotonic() + 120
    for line in proc.stderr:
        seen.append(line)
        if " up " in line and " ok " in line:
            proc.send_signal(signal.SIGINT)  # mid-deploy: containers recreated, health not yet confirmed
            break
        assert time.monotonic() < deadline
    out, err = proc.communicate(timeout=300)
    text = "".join(seen) + err
    OUTPUTS.append(out + text)
    assert proc.returncode == 130, text
    assert "Traceback" not in text and "rollback:up" in text
    st = status(project)
    for host in lab.hosts:
        assert version_on(host) == "1"
        assert st[host.name]["release"] == STATE["v1"] and st[host.name]["lock"] == ""
    log = ssh(lab, lab.hosts[0], "tail", "-n", "1", "/srv/gantry/gantry-example/lab/deploys.jsonl").stdout
    assert "interrupted" in json.loads(log)["detail"]


def test_e2e_rollback_to_unknown_release_is_a_clear_error(project, lab):
    proc = inv(project, "rollback", "--env", "lab", "--to", "20200101T000000Z-0000000000", check=2)
    assert "is not kept on this host" in proc.stderr and "Traceback" not in proc.stderr
    assert status(project)[lab.hosts[0].name]["lock"] == ""


def test_e2e_held_lock_fails_at_once_with_holder(project, lab):
    lock = "/srv/gantry/gantry-example/lab/lock"
    info = json.dumps({"holder": "alice@ci-runner-7", "since": "2026-11-25T10:00:00+00:00", "release": "R-other"})
    ssh(lab, lab.hosts[1], "sh", "-c", f"mkdir -p {lock} && printf '%s' '{info}' > {lock}/info.json")
    proc, _ = deploy(project, "4", check=5)
    assert "alice@ci-runner-7" in proc.stderr and "R-other" in proc.stderr and "lock.release" in proc.stderr
    for host in lab.hosts:
        assert version_on(host) == "1"
    assert status(project)[lab.hosts[0].name]["lock"] == ""  # our own locks were given back
    freed = inv(project, "lock.release", "--env", "lab", check=0)
    assert "alice@ci-runner-7" in freed.stdout
    assert status(project)[lab.hosts[1].name]["lock"] == ""


def test_e2e_lock_wait_takes_the_lock_once_it_is_freed(project, lab):
    import threading

    lock = "/srv/gantry/gantry-example/lab/lock"
    ssh(lab, lab.hosts[2], "sh", "-c", f"mkdir -p {lock} && echo '{{}}' > {lock}/info.json")
    timer = threading.Timer(3.0, lambda: ssh(lab, lab.hosts[2], "rm", "-rf", lock))
    timer.start()
    try:
        proc, doc = deploy(project, "1", extra=("--lock-wait", "60"))
    finally:
        timer.join()
    assert doc["outcome"] in ("ok", "unchanged")


def _env_variant(project, name, **changes):
    import yaml

    data = yaml.safe_load((project / "environments/lab.yml").read_text())
    data.update(changes)
    (project / f"environments/{name}.yml").write_text(yaml.safe_dump(data))
    shutil.copy(project / "secrets.lab.env", project / f"secrets.{name}.env")
    (project / f"secrets.{name}.env").chmod(0o600)


def test_e2e_unreachable_host_stops_before_any_change(project, lab):
    ghost = lab_net().prefix + "250"  # on this lab's own bridge, held by no host
    _env_variant(project, "labdead", hosts=[{"address": ghost, "name": "ghost"}],
                 ssh={"known_hosts": ".gantry/lab/known_hosts", "connect_timeout": 2, "connect_retries": 1})
    # the variant shares the lab project's base dir only if named alike; give it the lab's name via project dir
    proc = inv(project, "deploy", "--env", "labdead", "--yes", env={"APP_VERSION": "5"}, check=4)
    assert "ghost" in proc.stderr and f"cannot reach {ghost}" in proc.stderr
    assert "Traceback" not in proc.stderr
    for host in lab.hosts:
        out = ssh(lab, host, "ls", "/srv/gantry/gantry-example/").stdout.split()
        assert "labdead" not in out or not ssh(lab, host, "ls", "/srv/gantry/gantry-example/labdead/releases").stdout


def test_e2e_unknown_host_key_is_refused(project, lab):
    (project / "empty_known_hosts").write_text("")
    _env_variant(project, "labnokey", ssh={"known_hosts": "empty_known_hosts"})
    proc = inv(project, "status", "--env", "labnokey", check=4)
    assert "is not in" in proc.stderr and "ssh-keyscan" in proc.stderr
    proc = inv(project, "deploy", "--env", "labnokey", "--yes", env={"APP_VERSION": "6"}, check=4)
    for host in lab.hosts:
        assert ssh(lab, host, "test", "-e", "/srv/gantry/gantry-example/labnokey/lock").returncode != 0
        assert version_on(host) == "1"


def test_e2e_history_lists_deploys_and_the_rollback(project, lab):
    proc = inv(project, "history", "--env", "lab", "--limit", "0", "--json", check=0)
    rows = json.loads(proc.stdout)
    releases = {(r["event"], r["release"], r["outcome"]) for r in rows}
    assert ("deploy", STATE["v3"], "rolled-back") in releases
    assert any(r["event"] == "rollback" and r["release"] == STATE["v1"] for r in rows)


def test_e2e_no_secret_value_in_any_output(project, lab):
    text = "\n".join(OUTPUTS)
    assert OUTPUTS and CANARY_DB not in text and CANARY_API not in text
    for host in lab.hosts:
        log = ssh(lab, host, "cat", "/srv/gantry/gantry-example/lab/deploys.jsonl").stdout
        assert CANARY_DB not in log and CANARY_API not in log
