"""The swarm engine on a lab swarm (1 manager, 2 workers): v1 and v2 spread over the nodes and answering on
host-mode ports, secrets as files in the running tasks and never in `docker service inspect`, a failing v3
that Swarm rolls back (exit 3, the whole stack back at v2), `inv rollback` of the whole stack to v1, a Ctrl-C
while v4 converges (the stack back on v1), and no secret value in any output."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time

import pytest

from tests.labtools import REPO
from tests.swarmtools import CANARY_API, CANARY_DB, STACK, Story, http, story_of

pytestmark = pytest.mark.e2e
IDS: dict[str, str] = {}


@pytest.fixture(scope="module")
def story(tmp_path_factory):
    yield from story_of(tmp_path_factory, "swarm-deploy")


def _versions(story: Story) -> list[str]:
    return [http(addr) for addr in story.running_nodes("web")]


def test_e2e_swarm_deploys_v1_spread_over_nodes(story):
    doc = story.deploy("1")
    IDS["v1"] = doc["release"]
    assert doc["outcome"] == "ok" and doc["exit_code"] == 0, doc
    nodes = story.running_nodes("web")
    assert len(nodes) == 2 and len(set(nodes)) == 2, nodes  # two replicas, on two nodes
    assert _versions(story) == ["1", "1"]
    assert [http(a, "/db-password-set") for a in nodes] == ["yes", "yes"]  # read from DB_PASSWORD_FILE
    status = story.gantry("status", "--env", "swarm", "--json")
    services = {s["service"]: s for s in json.loads(status.stdout)["services"]}
    assert (services["web"]["running"], services["web"]["desired"]) == (2, 2)
    assert sorted(services["web"]["nodes"]) == nodes and len(json.loads(status.stdout)["nodes"]) == 3


def test_e2e_swarm_passes_over_a_manager_that_does_not_answer(story):
    env_file = story.root / "environments" / "swarm.yml"
    text = env_file.read_text()
    manager = story.lab.hosts[0]
    dead = f"managers:\n  - {{name: gone, address: {manager.address}, port: 2}}\n"  # nothing listens on port 2
    env_file.write_text(text.replace("inventory: .gantry/lab/managers.yml\n",
                                     "inventory: .gantry/lab/managers.yml\n" + dead))
    try:
        proc = story.gantry("status", "--env", "swarm", "--json")
    finally:
        env_file.write_text(text)
    assert json.loads(proc.stdout)["manager"] == manager.name
    assert f"warning: manager gone: cannot reach {manager.address}:2" in proc.stderr, proc.stderr


def test_e2e_swarm_secrets_are_files_in_tasks_and_absent_from_inspect(story):
    spec = story.inspect("web")["Spec"]["TaskTemplate"]["ContainerSpec"]
    assert "DB_PASSWORD_FILE=/run/secrets/DB_PASSWORD" in spec["Env"]
    assert not any(e.startswith("DB_PASSWORD=") for e in spec["Env"])
    for service in ("web", "worker"):
        text = story.manager("docker", "service", "inspect", f"{STACK}_{service}").stdout
        assert CANARY_DB not in text and CANARY_API not in text
    node = story.running_nodes("web")[0]
    host = next(h for h in story.lab.hosts if h.address == node)
    from tests.apptools import ssh

    found = ssh(story.lab, host, "sh", "-c", f"docker exec $(docker ps -q --filter label=com.docker.swarm.service"
                f".name={STACK}_web | head -1) cat /run/secrets/DB_PASSWORD")
    assert found.returncode == 0 and found.stdout == CANARY_DB, found.stderr  # compared here, never printed


def test_e2e_swarm_deploys_v2(story):
    doc = story.deploy("2")
    IDS["v2"] = doc["release"]
    assert doc["outcome"] == "ok" and IDS["v2"] != IDS["v1"], doc
    logs = story.gantry("logs", "--env", "swarm", "--service", "web", "--lines", "5")
    assert logs.stdout.startswith("== lab-1 (swarm manager) ==\n"), logs.stdout
    started = [line for line in logs.stdout.splitlines() if "gantry example web 2: listening" in line]
    assert {line.split("@")[0] for line in started} == {f"{STACK}_web.1", f"{STACK}_web.2"}, logs.stdout
    missing = story.gantry("logs", "--env", "swarm", "--service", "nosuch", check=2)
    assert f"Swarm has no logs of {STACK}_nosuch" in missing.stderr and "Traceback" not in missing.stderr
    every = story.gantry("logs", "--env", "swarm")  # every service of the stack, gathered by the manager
    assert "gantry example web 2: listening" in every.stdout and "== lab-1 (swarm manager) ==" in every.stdout
    assert _versions(story) == ["2", "2"]
    assert story.deploy("2")["outcome"] == "unchanged"


def test_e2e_swarm_failing_v3_is_rolled_back_with_exit_3(story):
    doc = story.deploy("3", fail=True, check=3)
    (manager,) = doc["hosts"]
    assert doc["outcome"] == "failed" and manager["outcome"] == "rolled-back", doc
    assert manager["failing_service"] == "web"
    assert "Swarm rolled back the update of service web: its task" in manager["error"], manager["error"]
    # the whole stack is back at v2, the worker too (Swarm itself only returned the web service)
    assert _versions(story) == ["2", "2"]
    worker = story.inspect("worker")["Spec"]["TaskTemplate"]["ContainerSpec"]["Env"]
    assert "APP_VERSION=2" in worker, worker
    assert story.manager("readlink", "/srv/gantry/gantry-example/swarm/current").stdout.strip() == \
        f"releases/{IDS['v2']}"


def test_e2e_swarm_rollback_returns_the_whole_stack_to_v1(story):
    proc = story.gantry("rollback", "--env", "swarm", "--yes", "--json")
    doc = json.loads(proc.stdout)
    assert doc["release"] == IDS["v1"] and doc["exit_code"] == 0, doc
    assert _versions(story) == ["1", "1"]
    worker = story.inspect("worker")["Spec"]["TaskTemplate"]["ContainerSpec"]["Env"]
    assert "APP_VERSION=1" in worker, worker
    audit = story.manager("cat", "/srv/gantry/gantry-example/swarm/deploys.jsonl").stdout.splitlines()
    outcomes = [(json.loads(line)["event"], json.loads(line)["outcome"]) for line in audit]
    # (an unchanged deploy takes no lock and writes nothing)
    assert outcomes == [("deploy", "deployed"), ("deploy", "deployed"), ("deploy", "rolled-back"),
                        ("rollback", "deployed")], outcomes


def test_e2e_swarm_ctrl_c_during_convergence_returns_the_stack_and_frees_the_lock(story):
    """SIGINT while Gantry waits for v4 to converge: exit 130, the whole stack back on v1 (the live release),
    `current` unchanged, the lock free, the interruption in the audit."""
    proc = subprocess.Popen([sys.executable, "-m", "gantry", "deploy", "--env", "swarm", "--yes", "--json"],
                            cwd=story.root, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                            env={**os.environ, "PYTHONPATH": str(REPO), "NO_COLOR": "1", "APP_VERSION": "4"})
    seen = []
    deadline = time.monotonic() + 120
    for line in proc.stderr:  # the progress lines; the JSON document is on stdout
        seen.append(line)
        if "converge" in line and "..." in line:
            proc.send_signal(signal.SIGINT)  # v4's stack deployed, convergence not yet seen
            break
        assert time.monotonic() < deadline
    out, rest = proc.communicate(timeout=300)
    err = "".join(seen) + rest
    story.outputs += [out, err]
    assert proc.returncode == 130 and "Traceback" not in err and "rollback:stack deploy" in err, f"{out}\n{err}"
    assert json.loads(out)["exit_code"] == 130
    assert _versions(story) == ["1", "1"]
    worker = story.inspect("worker")["Spec"]["TaskTemplate"]["ContainerSpec"]["Env"]
    assert "APP_VERSION=1" in worker, worker
    assert story.manager("readlink", "/srv/gantry/gantry-example/swarm/current").stdout.strip() == \
        f"releases/{IDS['v1']}"
    assert story.manager("test", "-e", "/srv/gantry/gantry-example/swarm/lock").returncode == 1  # no lock left
    last = json.loads(story.manager("tail", "-n", "1", "/srv/gantry/gantry-example/swarm/deploys.jsonl").stdout)
    assert last["event"] == "deploy" and "interrupted" in last["detail"], last
