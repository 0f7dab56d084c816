"""The lab registry and the example app's images, built offline and pushed to it."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

from gantry.lab.model import CLEAN_PATH, DOCKERD_TIMEOUT, IMAGE_TAG, IMAGES, LabError, Log, Net
from gantry.lab.node import _Node
from gantry.lab.procs import (
    _alive,
    _cmdline,
    _docker_ping,
    _http_status,
    _kill,
    _pids_mentioning,
    _read_pid,
    _run,
    _wait_for,
    _write_atomic,
)


def _ensure_registry(net: Net, state: Path, log: Log) -> None:
    registry = net.registry
    d = state / "registry"
    pid = _read_pid(d / "registry.pid")
    if _alive(pid) and f"{d}/" in _cmdline(pid) and _http_status(f"http://{registry}/v2/") == 200:
        return
    _kill(_pids_mentioning(f"{d}/"), grace=2)
    (d / "data").mkdir(parents=True, exist_ok=True)
    _write_atomic(d / "config.yml", "\n".join([
        "version: 0.1", "log: {level: warn}", "storage:", f"  filesystem: {{rootdirectory: {d}/data}}",
        "  delete: {enabled: true}", f"http: {{addr: '{registry}'}}", ""]))
    with open(d / "registry.log", "ab") as out:
        proc = subprocess.Popen(["docker-registry", "serve", f"{d}/config.yml"], stdin=subprocess.DEVNULL,
                                stdout=out, stderr=out, start_new_session=True, env={"PATH": CLEAN_PATH})
    _write_atomic(d / "registry.pid", f"{proc.pid}\n")
    if not _wait_for(lambda: _http_status(f"http://{registry}/v2/") == 200, 10):
        raise LabError("registry", f"the registry did not answer on {registry} within 10 s",
                       f"see {d}/registry.log")
    log(f"registry: serving on {registry}")


def _missing_images(registry: str) -> list[str]:
    accept = ("application/vnd.docker.distribution.manifest.v2+json, "
              "application/vnd.oci.image.manifest.v1+json")
    return [name for name in IMAGES
            if _http_status(f"http://{registry}/v2/gantry-example/{name}/manifests/{IMAGE_TAG}",
                            "HEAD", {"Accept": accept}) != 200]


def _example_dir(root: Path) -> Path:
    for candidate in (Path(root) / "example", Path(__file__).resolve().parents[2] / "example"):
        if all((candidate / name / "Dockerfile").exists() for name in IMAGES):
            return candidate
    raise LabError("lab", f"no example/web and example/worker Dockerfiles under {root}",
                   "run the lab from the gantry repository")


def _shown(path: Path) -> str:
    return str(path.relative_to(Path.cwd())) if Path.cwd() in path.parents else str(path)


def _wait_engine(node: _Node, dockerd: subprocess.Popen[bytes] | None) -> None:
    """Wait for the engine's socket to answer; fail at once if dockerd exits."""
    log_file = node.dir / "dockerd.log"
    if not _wait_for(lambda: _docker_ping(node.sock) or (dockerd is not None and dockerd.poll() is not None),
                     DOCKERD_TIMEOUT):
        raise LabError(node.name, f"dockerd did not answer within {DOCKERD_TIMEOUT:.0f} s",
                       f"see {_shown(log_file)}")
    if not _docker_ping(node.sock):
        tail = log_file.read_text(errors="replace").strip().splitlines()[-1:] if log_file.exists() else []
        raise LabError(node.name, f"dockerd exited with status {dockerd.poll() if dockerd else '?'}: "
                       f"{' '.join(tail)}", f"see {_shown(log_file)}")


def _build_images(node: _Node, dockerd: subprocess.Popen[bytes], names: list[str], example: Path,
                  log: Log) -> None:
    _wait_engine(node, dockerd)
    env = {"PATH": CLEAN_PATH, "HOME": str(node.dir), "DOCKER_HOST": f"unix://{node.sock}",
           "DOCKER_BUILDKIT": "0"}
    for name in names:
        context = node.dir / f"context-{name}"
        shutil.copytree(example / name, context, dirs_exist_ok=True)
        shutil.copy2("/bin/busybox", context / "busybox")  # never committed: taken from busybox-static
        tag = f"{node.net.registry}/gantry-example/{name}:{IMAGE_TAG}"
        _run(["docker", "build", "--network", "none", "-q", "-t", tag, str(context)],
             where=f"build {name}", timeout=300, env=env)
        _run(["docker", "push", "-q", tag], where=f"push {name}", timeout=120, env=env)
        log(f"registry: pushed {tag}")


