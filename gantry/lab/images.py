"""The lab registry and the example app's images, built offline and pushed to it.

Besides the example images the lab builds the blue/green proxy image, `gantry-lab/caddy:<version>`, from
this machine's Debian `caddy` package: its binary and the shared libraries `ldd` lists, copied into a
FROM scratch image with a static busybox (for the health check). Without `/usr/bin/caddy` it is skipped.
"""

from __future__ import annotations

import json
import shutil
import subprocess
import urllib.request
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


_ACCEPT = "application/vnd.docker.distribution.manifest.v2+json, application/vnd.oci.image.manifest.v1+json"
PROXY = "proxy"  # the name _build_images knows the proxy image by
PROXY_REPO = "gantry-lab/caddy"
CADDY = Path("/usr/bin/caddy")


def _caddy_version() -> str:
    done = subprocess.run([str(CADDY), "version"], capture_output=True, text=True, timeout=10,
                          env={"PATH": CLEAN_PATH})
    return done.stdout.split()[0].removeprefix("v") if done.returncode == 0 and done.stdout.strip() else ""


def _missing_images(registry: str) -> list[str]:
    missing = [name for name in IMAGES
               if _http_status(f"http://{registry}/v2/gantry-example/{name}/manifests/{IMAGE_TAG}",
                               "HEAD", {"Accept": _ACCEPT}) != 200]
    version = _caddy_version() if CADDY.exists() else ""
    if version and _http_status(f"http://{registry}/v2/{PROXY_REPO}/manifests/{version}", "HEAD",
                                {"Accept": _ACCEPT}) != 200:
        missing.append(PROXY)
    return missing


def proxy_image(registry: str) -> str:
    """The lab's proxy image pinned by digest (`repo:tag@sha256:...`), or '' when the lab has none."""
    version = _caddy_version() if CADDY.exists() else ""
    if not version:
        return ""
    opener = urllib.request.build_opener(urllib.request.ProxyHandler({}))
    request = urllib.request.Request(f"http://{registry}/v2/{PROXY_REPO}/manifests/{version}", method="HEAD",
                                     headers={"Accept": _ACCEPT})
    try:
        with opener.open(request, timeout=5) as answer:
            digest = answer.headers.get("Docker-Content-Digest", "")
    except OSError:
        return ""
    return f"{registry}/{PROXY_REPO}:{version}@{digest}" if digest.startswith("sha256:") else ""


def _libraries(binary: Path) -> list[Path]:
    """The shared libraries `ldd` resolves for a binary, and its loader."""
    done = _run(["ldd", str(binary)], where="ldd caddy")
    paths = []
    for line in done.stdout.splitlines():
        words = line.replace("=>", " ").split()
        paths += [Path(w) for w in words if w.startswith("/")]
    return paths


def _proxy_context(context: Path) -> None:
    """A FROM scratch context: caddy, its libraries at their own paths, busybox for sh and wget."""
    root = context / "rootfs"
    for source in [CADDY, *_libraries(CADDY)]:
        target = root / source.relative_to("/")
        target.parent.mkdir(parents=True, exist_ok=True)
        shutil.copy2(source.resolve(), target)
    (root / "bin").mkdir(parents=True, exist_ok=True)
    shutil.copy2("/bin/busybox", root / "bin" / "busybox")
    health = ["/bin/busybox", "wget", "-q", "-O", "/dev/null", "http://127.0.0.1:2019/config/"]
    (context / "Dockerfile").write_text("\n".join([
        "FROM scratch", "COPY rootfs/ /", 'RUN ["/bin/busybox", "--install", "-s", "/bin"]',
        'RUN ["/bin/busybox", "mkdir", "-p", "-m", "1777", "/tmp", "/data", "/config"]',
        "ENV HOME=/data XDG_DATA_HOME=/data XDG_CONFIG_HOME=/data GODEBUG=netdns=go",
        f"HEALTHCHECK --interval=2s --timeout=2s --start-period=5s CMD {json.dumps(health)}",
        'ENTRYPOINT ["/usr/bin/caddy"]', 'CMD ["run", "--config", "/config/caddy.json"]', ""]))


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
        if name == PROXY:
            _proxy_context(context)
            tag = f"{node.net.registry}/{PROXY_REPO}:{_caddy_version()}"
        else:
            shutil.copytree(example / name, context, dirs_exist_ok=True)
            shutil.copy2("/bin/busybox", context / "busybox")  # never committed: taken from busybox-static
            tag = f"{node.net.registry}/gantry-example/{name}:{IMAGE_TAG}"
        _run(["docker", "build", "--network", "none", "-q", "-t", tag, str(context)],
             where=f"build {name}", timeout=300, env=env)
        _run(["docker", "push", "-q", tag], where=f"push {name}", timeout=120, env=env)
        log(f"registry: pushed {tag}")


