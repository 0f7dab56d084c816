"""A swarm node stops during a deploy (its engine shut down, as a powered-off server's): Swarm moves its
tasks, and the stack still converges on the other nodes; Gantry exits 0 and the new version answers there."""

from __future__ import annotations

import os
import signal
import subprocess
import sys

import pytest

from tests.labtools import REPO
from tests.swarmtools import STACK, Story, http, story_of

pytestmark = pytest.mark.e2e


@pytest.fixture(scope="module")
def story(tmp_path_factory):
    yield from story_of(tmp_path_factory, "swarm-node-down")


def _stop_engine(story: Story, address: str) -> None:
    """SIGTERM the dockerd of the lab host at `address` (it stops its containers, then exits)."""
    host = next(h for h in story.lab.hosts if h.address == address)
    pid = int((story.root / ".gantry" / "lab" / host.name / "docker" / "docker.pid").read_text())
    os.kill(pid, signal.SIGTERM)


def _swarm_state(story: Story) -> str:
    """What the manager says of the nodes and every task (for a failure message)."""
    nodes = story.manager("docker", "node", "ls").stdout
    tasks = story.manager("docker", "stack", "ps", "--no-trunc", "--format",
                          "{{.Name}} {{.Image}} {{.Node}} desired={{.DesiredState}} {{.CurrentState}} {{.Error}}",
                          STACK).stdout
    updates = story.manager("docker", "service", "inspect", "--format", "{{.Spec.Name}} {{json .UpdateStatus}}",
                            f"{STACK}_web", f"{STACK}_worker").stdout
    return f"nodes:\n{nodes}\ntasks:\n{tasks}\nupdates:\n{updates}"


def test_e2e_swarm_converges_when_a_node_stops_during_a_deploy(story):
    """A node running a web task stops as the deploy begins. When Swarm gives the worker's new task to that node
    before it sees the node down, the task stays `assigned` there and Swarm's start-first updater keeps the old
    worker running beside the replacement (verdict.leftovers): Gantry has Swarm reconcile the slot."""
    story.deploy("1")
    web = story.running_nodes("web")
    manager = story.lab.hosts[0].address
    victim = next(a for a in web if a != manager)  # a worker running a web task
    proc = subprocess.Popen([sys.executable, "-m", "gantry", "deploy", "--env", "swarm", "--yes", "--json"],
                            cwd=story.root, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                            env={**os.environ, "PYTHONPATH": str(REPO), "NO_COLOR": "1", "APP_VERSION": "2"})
    _stop_engine(story, victim)
    out, err = proc.communicate(timeout=300)
    story.outputs += [out, err]
    assert proc.returncode == 0, f"{out}\n{err}\n{_swarm_state(story)}"
    assert "Traceback" not in err
    nodes = story.running_nodes("web")
    assert victim not in nodes and len(nodes) == 2, nodes  # both replicas on the nodes still up
    assert [http(a) for a in nodes] == ["2", "2"]
    workers = story.running_nodes("worker")  # one worker task, the new one, on a node that answers
    assert len(workers) == 1 and victim not in workers, workers
    worker = story.inspect("worker")["Spec"]["TaskTemplate"]["ContainerSpec"]["Env"]
    assert "APP_VERSION=2" in worker, worker
