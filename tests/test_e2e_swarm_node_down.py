"""A swarm node stops during a deploy (its engine shut down, as a powered-off server's): Swarm moves its
tasks, and the stack still converges on the other nodes; Gantry exits 0 and the new version answers there."""

from __future__ import annotations

import os
import signal
import subprocess
import sys

import pytest

from tests.labtools import REPO
from tests.swarmtools import Story, http, story_of

pytestmark = [pytest.mark.e2e, pytest.mark.skip(
    reason="not reliable yet (issue 17): in 2 of 3 full-suite runs the deploy did not converge within its window "
           "(worker: 1/1 running, 1 old task still reported running on a node Swarm calls ready); it passes when run "
           "alone. Remove this mark to run it.")]


@pytest.fixture(scope="module")
def story(tmp_path_factory):
    yield from story_of(tmp_path_factory, "swarm-node-down")


def _stop_engine(story: Story, address: str) -> None:
    """SIGTERM the dockerd of the lab host at `address` (it stops its containers, then exits)."""
    host = next(h for h in story.lab.hosts if h.address == address)
    pid = int((story.root / ".gantry" / "lab" / host.name / "docker" / "docker.pid").read_text())
    os.kill(pid, signal.SIGTERM)


def test_e2e_swarm_converges_when_a_node_stops_during_a_deploy(story):
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
    assert proc.returncode == 0, f"{out}\n{err}"
    assert "Traceback" not in err
    nodes = story.running_nodes("web")
    assert victim not in nodes and len(nodes) == 2, nodes  # both replicas on the nodes still up
    assert [http(a) for a in nodes] == ["2", "2"]
