"""`images: {transfer: ssh}` on real lab hosts with the registry stopped: images go host-to-host over SSH."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import pytest

from tests.labtools import copy_project, lab_or_skip, run_gantry

REPO = Path(__file__).resolve().parent.parent

pytestmark = pytest.mark.e2e


def docker(sock: str, *args: str) -> str:
    proc = subprocess.run(["docker", *args], capture_output=True, text=True, timeout=300,
                          env={**os.environ, "DOCKER_HOST": sock})
    assert proc.returncode == 0, proc.stderr
    return proc.stdout.strip()


def answers(url: str, tries: int = 20) -> bool:
    """Whether url still answers, asked until it stops (the registry exits a moment after SIGTERM)."""
    for _ in range(tries):
        try:
            urllib.request.urlopen(url, timeout=3).close()
        except OSError:
            return False
        time.sleep(0.5)
    return True


@pytest.fixture(scope="module")
def lab(tmp_path_factory):
    """Two lab hosts: lab-1's engine plays the deploying machine's engine; lab-2 is the only deploy target."""
    root = copy_project(tmp_path_factory.mktemp("project"))
    (root / "secrets.ship.env").write_text("DB_PASSWORD=canary-db-ship-3c1\nAPI_TOKEN=canary-api-ship-9d2\n")
    (root / "secrets.ship.env").chmod(0o600)
    for up in lab_or_skip(root, 2):
        source, target = up.hosts
        web, worker = (f"{up.registry}/gantry-example/{name}:1.0.0" for name in ("web", "worker"))
        for ref in (web, worker):
            docker(source.docker_host, "pull", "-q", ref)
        docker(target.docker_host, "pull", "-q", worker)  # lab-2 has the worker already: only web is sent
        pid = int((root / ".gantry/lab/registry/registry.pid").read_text())
        os.kill(pid, signal.SIGTERM)  # the lab's registry, started by this fixture
        assert not answers(f"http://{up.registry}/v2/")
        lab_env = (root / "environments/lab.yml").read_text()
        (root / "environments/ship.yml").write_text(
            lab_env.replace("inventory: .gantry/lab/inventory.yml\n", "")
            + f"hosts:\n  - {{name: {target.name}, address: {target.address}, "
              f"identity_file: {up.identity_file}}}\nimages:\n  transfer: ssh\n")
        yield root, up, web, worker


def gantry(root, *args, docker_host: str):
    return run_gantry(root, *args, env={"DOCKER_HOST": docker_host})


def test_e2e_transfer_sends_only_missing_images_and_deploys_without_a_registry(lab):
    root, up, web, worker = lab
    source, target = up.hosts
    proc = gantry(root, "deploy", "--env", "ship", "--yes", docker_host=source.docker_host)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    out = proc.stdout + proc.stderr
    assert f"{target.name}: ship: sent {web} (docker save | docker load), ids verified" in out
    for ref in (web, worker):
        assert docker(target.docker_host, "image", "inspect", "--format", "{{.Id}}", ref) == \
            docker(source.docker_host, "image", "inspect", "--format", "{{.Id}}", ref)
    running = docker(target.docker_host, "ps", "--format", "{{.Image}} {{.State}}")
    assert f"{web} running" in running and f"{worker} running" in running
    with urllib.request.urlopen(f"http://{target.address}:8080/health", timeout=5) as answer:
        assert answer.status == 200
    assert docker(source.docker_host, "ps", "-q") == ""  # the source engine only lent its images


def test_e2e_transfer_sends_nothing_when_the_host_has_every_image(lab):
    root, up, _, _ = lab
    source, target = up.hosts
    proc = subprocess.run([sys.executable, "-m", "gantry", "deploy", "--env", "ship", "--yes"], cwd=root,
                          capture_output=True, text=True, timeout=600,
                          env={**os.environ, "PYTHONPATH": str(REPO), "NO_COLOR": "1",
                               "DOCKER_HOST": source.docker_host, "APP_VERSION": "2"})
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert f"{target.name}: ship: all 2 image(s) present, nothing sent" in proc.stdout + proc.stderr


def test_e2e_transfer_names_an_image_the_deploying_side_lacks(lab, tmp_path):
    root, up, _, _ = lab
    empty = tmp_path / "nowhere.sock"
    proc = subprocess.run([sys.executable, "-m", "gantry", "deploy", "--env", "ship", "--yes"], cwd=root,
                          capture_output=True, text=True, timeout=600,
                          env={**os.environ, "PYTHONPATH": str(REPO), "NO_COLOR": "1",
                               "DOCKER_HOST": f"unix://{empty}", "APP_VERSION": "3"})
    assert proc.returncode == 1, proc.stdout + proc.stderr
    assert "environments/ship.yml: images.transfer" in proc.stderr and "not found in unix://" in proc.stderr
    assert "Traceback" not in proc.stderr
