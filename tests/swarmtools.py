"""End-to-end plumbing for the swarm engine: a lab swarm per test module and the example project on it.

The project is a copy of this repo's (environments/swarm.yml, compose/, example/), its lab in the copy's own
`.gantry/lab`, its secrets canaries: every output of the story is searched for them at the end.
"""

from __future__ import annotations

import json
import subprocess
import urllib.request
from pathlib import Path

from tests.apptools import ssh
from tests.labtools import copy_project, lab_missing, run_gantry

CANARY_DB = "canary-db-swarm-4f7a1c9e"
CANARY_API = "canary-api-swarm-b83d20e6"
STACK = "gantry-example-swarm"


def swarm_lab(root: Path, managers: int, workers: int, *, batch_size: int = 0):
    """Bring up a lab swarm in a copy of the project at `root` (skip without a lab); always tear down."""
    import pytest

    why = lab_missing()
    if why:
        pytest.skip(why)
    from gantry import lab

    copy_project(root)
    env_file = root / "environments" / "swarm.yml"
    env_file.write_text(env_file.read_text().replace("batch_size: 1", f"batch_size: {batch_size}"))
    secrets = root / "secrets.swarm.env"
    secrets.write_text(f"DB_PASSWORD={CANARY_DB}\nAPI_TOKEN={CANARY_API}\n")
    secrets.chmod(0o600)
    try:
        up, layout = lab.lab_swarm(root, managers, workers, log=lambda m: None)
    except BaseException:
        lab.lab_down(root, log=lambda m: None)
        raise
    try:
        yield up, layout
    finally:
        lab.lab_down(root, log=lambda m: None)


def story_of(tmp_path_factory, name: str, managers: int = 1, workers: int = 2):
    """A module's story on its own lab swarm; the canary check runs over all its output at the end."""
    root = tmp_path_factory.mktemp(name)
    for up, _ in swarm_lab(root, managers, workers):
        story = Story(root, up)
        yield story
        story.assert_no_canary()


class Story:
    """Runs gantry in the project and keeps every output, for the canary check."""

    def __init__(self, root: Path, lab) -> None:
        self.root = root
        self.lab = lab
        self.outputs: list[str] = []

    def gantry(self, *args: str, version: str = "1", fail: bool = False, check: int | None = 0):
        proc = run_gantry(self.root, *args, env={"APP_VERSION": version, "FAIL_HEALTH": "1" if fail else "0"})
        self.outputs += [proc.stdout, proc.stderr]
        if check is not None:
            assert proc.returncode == check, f"exit {proc.returncode}\n{proc.stdout}\n{proc.stderr}"
        return proc

    def deploy(self, version: str, *, fail: bool = False, check: int = 0) -> dict:
        proc = self.gantry("deploy", "--env", "swarm", "--yes", "--json", version=version, fail=fail, check=check)
        return json.loads(proc.stdout)

    def manager(self, *argv: str) -> subprocess.CompletedProcess:
        proc = ssh(self.lab, self.lab.hosts[0], *argv)
        self.outputs += [proc.stdout, proc.stderr]
        return proc

    def inspect(self, service: str) -> dict:
        proc = self.manager("docker", "service", "inspect", f"{STACK}_{service}")
        assert proc.returncode == 0, proc.stderr
        return json.loads(proc.stdout)[0]

    def running_nodes(self, service: str) -> list[str]:
        """The addresses of the nodes running the service's tasks, as the manager's `docker node inspect` says."""
        tasks = self.manager("docker", "service", "ps", "-q", "--filter", "desired-state=running", "--no-trunc",
                             f"{STACK}_{service}").stdout.split()
        found = json.loads(self.manager("docker", "inspect", "--type", "task", *tasks).stdout or "[]")
        running = [t["NodeID"] for t in found if t["Status"]["State"] == "running"]
        nodes = json.loads(self.manager("docker", "node", "inspect", *sorted(set(running))).stdout or "[]")
        by_id = {n["ID"]: n["Status"]["Addr"] for n in nodes}
        return sorted(by_id[n] for n in running)

    def assert_no_canary(self) -> None:
        for text in self.outputs:
            assert CANARY_DB not in text and CANARY_API not in text, text[:2000]


def http(address: str, path: str = "/version") -> str:
    with urllib.request.urlopen(f"http://{address}:8080{path}", timeout=3) as answer:
        return answer.read().decode().strip()
