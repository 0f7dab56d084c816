"""`images.build_host`: a lab host named like a host builds the image over SSH (its key checked as a deploy
host's); the image is then pushed, or shipped from the build host to a deploy host with `transfer: ssh`."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
from pathlib import Path

import pytest

from tests.labtools import lab_or_skip, run_gantry
from tests.test_e2e_build import in_registry

REPO = Path(__file__).resolve().parent.parent
FIXTURE = REPO / "tests/fixtures/build-app"

pytestmark = pytest.mark.e2e

ENV = """project: shop
deploy_path: /srv/gantry
compose_files: [compose.yaml]
variables: {{REGISTRY: "{registry}"}}
ssh: {{known_hosts: {known_hosts}}}
policy: {{level: lab}}
hosts: [{{name: {target.name}, address: {target.address}, port: {target.ssh_port}, identity_file: {key}}}]
images:
  build_host: {{name: builder, address: {builder.address}, port: {builder.ssh_port}, identity_file: {key}}}
  {images}
"""


@pytest.fixture(scope="module")
def lab(tmp_path_factory):
    """lab-1 is the build server; lab-2 the one deploy host."""
    root = tmp_path_factory.mktemp("shop")
    shutil.copytree(FIXTURE, root, dirs_exist_ok=True)
    shutil.copy2("/bin/busybox", root / "app/busybox")
    (root / "empty_known_hosts").write_text("")
    (root / "outside.txt").write_text("outside-the-context-4b1d\n")  # a symlink in the context points here
    (root / "app/src/outside").symlink_to(root / "outside.txt")
    (root / "app/src/notes.local").write_text("ignored-by-dockerignore-77e0\n")
    (root / "app/.dockerignore").write_text("src/*.local\n")
    for up in lab_or_skip(root, 2):
        builder, target = up.hosts
        (root / "environments").mkdir()
        for name, images, known in (("push", "push: true", up.known_hosts), ("ship", "transfer: ssh", up.known_hosts),
                                    ("stranger", "push: false", root / "empty_known_hosts"),
                                    ("context", "target: build\n  push: false", up.known_hosts)):
            (root / f"environments/{name}.yml").write_text(ENV.format(
                registry=up.registry, known_hosts=known, target=target, builder=builder, key=up.identity_file,
                images=images))
        yield root, up


def gantry(root, *args):
    # No engine of the deploying side's own: only the build host can do the build.
    return run_gantry(root, *args, env={"DOCKER_BUILDKIT": "0", "DOCKER_HOST": "unix:///nonexistent/docker.sock"})


def docker(sock: str, *args: str) -> str:
    proc = subprocess.run(["docker", *args], capture_output=True, text=True, timeout=300,
                          env={**os.environ, "DOCKER_HOST": sock})
    assert proc.returncode == 0, proc.stderr
    return proc.stdout.strip()


def test_e2e_build_host_builds_over_ssh_reports_size_and_layers_and_pushes(lab):
    root, up = lab
    builder = up.hosts[0]
    proc = gantry(root, "build", "--env", "push", "--json")
    assert proc.returncode == 0, proc.stderr
    doc = json.loads(proc.stdout[proc.stdout.index("{"):])
    (image,) = doc["images"]
    assert image["layers"] == 2 and image["size"] > 0 and doc["pushed"] is True
    assert doc["engine"] == f"build host builder (ssh://root@{builder.address}:{builder.ssh_port})"
    assert "2 layers" in proc.stdout and "on build host builder" in proc.stdout
    ref = image["tags"][0]
    assert in_registry(up.registry, "shop/app", "1.0.0")
    assert docker(builder.docker_host, "image", "inspect", "--format", "{{.Id}}", ref).startswith("sha256:")
    listing = docker(builder.docker_host, "run", "--rm", "--entrypoint", "/bin/busybox", image["tags"][0], "ls", "/")
    assert "app.sh" in listing


def test_e2e_build_host_image_is_shipped_from_the_build_host_to_the_deploy_host(lab):
    root, up = lab
    builder, target = up.hosts
    built = gantry(root, "build", "--env", "ship")
    assert built.returncode == 0, built.stderr
    assert "not pushed: images.transfer is ssh" in built.stdout
    proc = gantry(root, "deploy", "--env", "ship", "--yes")
    assert proc.returncode == 0, proc.stdout + proc.stderr
    ref = f"{up.registry}/shop/app:1.0.0"
    assert docker(target.docker_host, "image", "inspect", "--format", "{{.Id}}", ref) == \
        docker(builder.docker_host, "image", "inspect", "--format", "{{.Id}}", ref)
    assert "running" in docker(target.docker_host, "ps", "--format", "{{.Image}} {{.State}}")


def test_e2e_build_host_with_an_unknown_key_is_refused_before_the_docker_cli_runs(lab):
    root, up = lab
    proc = gantry(root, "build", "--env", "stranger")
    assert proc.returncode == 4, proc.stdout + proc.stderr
    assert f"{up.hosts[0].address} is not in" in proc.stderr and "ssh-keyscan" in proc.stderr
    assert "built" not in proc.stdout


def test_e2e_build_host_context_keeps_symlinks_as_links_and_leaves_out_what_dockerignore_excludes(lab):
    root, up = lab
    proc = gantry(root, "build", "--env", "context")
    assert proc.returncode == 0, proc.stderr
    ref, sock = f"{up.registry}/shop/app:1.0.0", up.hosts[0].docker_host
    link = docker(sock, "run", "--rm", "--entrypoint", "/bin/busybox", ref, "readlink", "/src/outside")
    assert link == str(root / "outside.txt")  # sent as a link, not as the file it points to
    listing = docker(sock, "run", "--rm", "--entrypoint", "/bin/busybox", ref, "ls", "-a", "/src")
    assert "app.sh" in listing and "notes.local" not in listing
