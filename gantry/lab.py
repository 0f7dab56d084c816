"""Local lab: N hosts on this machine, each a network + mount namespace with its own sshd and dockerd.

One lab per machine (the bridge, the namespaces and 10.231.47.0/24 are global names); the bridge's
alias records which project root owns it. Every process the lab starts carries the state dir in its
argv or lives in a lab namespace, which is how `lab_down` finds them even without pid files.
"""

from __future__ import annotations

import fcntl
import ipaddress
import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request
from collections.abc import Callable, Iterable, Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

from gantry.errors import GantryError

BRIDGE = "gantry-br0"
NET_PREFIX = "10.231.47."
BRIDGE_ADDRESS = NET_PREFIX + "1"
REGISTRY = BRIDGE_ADDRESS + ":5000"
NETNS_PREFIX = "gantry-lab-"
BUILDER = "builder"
BUILDER_NETNS = "gantry-builder"
BUILDER_ADDRESS = NET_PREFIX + "2"
IMAGES = ("web", "worker")
IMAGE_TAG = "1.0.0"
CLEAN_PATH = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"
TOOLS = ("ip", "unshare", "nsenter", "mount", "dockerd", "docker", "/usr/sbin/sshd", "ssh", "ssh-keygen",
         "docker-registry", "/usr/lib/openssh/sftp-server", "/bin/busybox")
PLUGIN_DIRS = ("/usr/local/lib/docker/cli-plugins", "/usr/local/libexec/docker/cli-plugins",
               "/usr/lib/docker/cli-plugins", "/usr/libexec/docker/cli-plugins")
HOLDER_MARK = "GANTRY_LAB_HOLDER"
DOCKERD_TIMEOUT = 30.0
SSHD_TIMEOUT = 10.0
Log = Callable[[str], None]


class LabError(GantryError):
    """The lab could not be brought up or down."""


@dataclass(frozen=True)
class LabHost:
    name: str
    address: str
    ssh_port: int
    docker_host: str


@dataclass(frozen=True)
class Lab:
    root: Path
    hosts: tuple[LabHost, ...]
    registry: str
    identity_file: Path
    known_hosts: Path
    inventory: Path


def state_dir(root: Path) -> Path:
    return Path(root).resolve() / ".gantry" / "lab"


def ssh_argv(lab: Lab, host: LabHost, *command: str) -> tuple[str, ...]:
    """The ssh command line for one lab host, with strict host key checking and key auth only."""
    return ("ssh", "-F", "/dev/null", "-i", str(lab.identity_file), "-o", "IdentitiesOnly=yes",
            "-o", f"UserKnownHostsFile={lab.known_hosts}", "-o", "GlobalKnownHostsFile=/dev/null",
            "-o", "StrictHostKeyChecking=yes", "-o", "BatchMode=yes", "-o", "ConnectTimeout=3",
            "-p", str(host.ssh_port), f"root@{host.address}", *command)


# ---------------------------------------------------------------- small process and file helpers


def _run(argv: Iterable[str], *, where: str = "lab", timeout: float = 60, check: bool = True,
         env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    argv = list(argv)
    try:
        done = subprocess.run(argv, capture_output=True, text=True, timeout=timeout, env=env,
                              stdin=subprocess.DEVNULL)
    except subprocess.TimeoutExpired as exc:
        raise LabError(where, f"`{' '.join(argv[:3])}` did not finish within {timeout:.0f} s") from exc
    if check and done.returncode != 0:
        tail = (done.stderr or done.stdout).strip().splitlines()[-3:]
        raise LabError(where, f"`{' '.join(argv[:4])}` failed (exit {done.returncode}): {' | '.join(tail)}")
    return done


def _write_atomic(path: Path, text: str, mode: int = 0o644) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.")
    with os.fdopen(fd, "w") as f:
        f.write(text)
    os.chmod(tmp, mode)
    os.replace(tmp, path)


def _alive(pid: int | None) -> bool:
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except (OSError, TypeError):
        return False
    return stat.rsplit(")", 1)[1].split()[0] not in ("Z", "X")


def _read_pid(path: Path) -> int | None:
    try:
        return int(path.read_text().strip())
    except (OSError, ValueError):
        return None


def _cmdline(pid: int) -> str:
    try:
        return Path(f"/proc/{pid}/cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace")
    except OSError:
        return ""


def _all_pids() -> list[int]:
    return [int(p) for p in os.listdir("/proc") if p.isdigit() and int(p) != os.getpid()]


def _pids_in_netns(netns: str) -> list[int]:
    try:
        ino = os.stat(f"/run/netns/{netns}").st_ino
    except OSError:
        return []
    found = []
    for pid in _all_pids():
        try:
            if os.stat(f"/proc/{pid}/ns/net").st_ino == ino:
                found.append(pid)
        except OSError:
            pass
    return found


def _pids_mentioning(text: str) -> list[int]:
    return [pid for pid in _all_pids() if text in _cmdline(pid)]


def _holder_pids(under: Path) -> list[int]:
    """The `sleep infinity` mount namespace holders of hosts under `under` (marked in their environment)."""
    mark = f"{HOLDER_MARK}={under}".encode()
    found = []
    for pid in _all_pids():
        if _cmdline(pid).strip() == "sleep infinity":
            try:
                environ = Path(f"/proc/{pid}/environ").read_bytes().split(b"\0")
            except OSError:
                continue
            if any(e == mark or e.startswith(mark + b"/") for e in environ):
                found.append(pid)
    return found


def _kill(pids: Iterable[int], grace: float) -> None:
    pids = [p for p in pids if _alive(p)]
    for pid in pids:
        _signal(pid, signal.SIGTERM)
    deadline = time.monotonic() + grace
    while time.monotonic() < deadline and any(_alive(p) for p in pids):
        time.sleep(0.05)
    for pid in pids:
        if _alive(pid):
            _signal(pid, signal.SIGKILL)
    deadline = time.monotonic() + 5
    while time.monotonic() < deadline and any(_alive(p) for p in pids):
        time.sleep(0.05)


def _signal(pid: int, sig: int) -> None:
    try:
        os.kill(pid, sig)
    except ProcessLookupError:
        pass


def _wait_for(check: Callable[[], bool], timeout: float, interval: float = 0.1) -> bool:
    deadline = time.monotonic() + timeout
    while True:
        if check():
            return True
        if time.monotonic() > deadline:
            return False
        time.sleep(interval)


def _docker_ping(sock: Path) -> bool:
    try:
        with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as s:
            s.settimeout(1)
            s.connect(str(sock))
            s.sendall(b"GET /_ping HTTP/1.0\r\nHost: docker\r\n\r\n")
            answer = s.recv(64)
    except OSError:
        return False
    return answer.startswith(b"HTTP/1.") and b" 200 " in answer


def _http_status(url: str, method: str = "GET", headers: dict[str, str] | None = None) -> int:
    opener = urllib.request.build_opener(urllib.request.ProxyHandler({}))
    try:
        with opener.open(urllib.request.Request(url, method=method, headers=headers or {}), timeout=2) as r:
            return r.status
    except urllib.error.HTTPError as exc:
        return exc.code
    except OSError:
        return 0


# ---------------------------------------------------------------- checks and network


def _preflight(state: Path) -> None:
    if os.geteuid() != 0:
        raise LabError("lab", "not root", "the lab creates namespaces and a bridge: run it as root")
    missing = [t for t in TOOLS if not (os.access(t, os.X_OK) if t.startswith("/") else shutil.which(t))]
    if missing:
        raise LabError("lab", f"missing tools: {', '.join(missing)}", "run scripts/setup.sh")
    for private in ("/root", "/srv"):
        if state == Path(private) or Path(private) in state.parents:
            raise LabError("lab", f"state dir {state} is under {private}, which each lab host replaces",
                           "run the lab from a project outside /root and /srv")
    if any(c in str(state) for c in "\"' \t\n"):
        raise LabError("lab", f"state dir {state} has quotes or spaces", "use a plainer project path")


def _owner() -> Path | None:
    try:
        alias = Path(f"/sys/class/net/{BRIDGE}/ifalias").read_text().strip()
    except OSError:
        return None
    # A bridge without our alias (made by hand, or half-made) belongs to whoever brings the lab up next.
    return Path(alias.removeprefix("gantry-lab:")) if alias.startswith("gantry-lab:") else None


def _check_owner(root: Path, log: Log | None = None) -> None:
    """Refuse another project's lab; with `log` (lab_up), take over one whose project dir is gone."""
    owner = _owner()
    if owner is not None and owner != Path(root).resolve() and log and not state_dir(owner).exists():
        log(f"lab: removing a stale lab of {owner} (its state dir is gone)")
        _lab_down(owner, log)
        owner = _owner()
    if owner is not None and owner != Path(root).resolve():
        raise LabError("lab", f"a lab owned by {owner} is already on this machine (one lab per machine)",
                       f"bring it down first: python -m gantry.lab down {owner}")


def _check_routes(count: int) -> None:
    ours = [ipaddress.ip_network(NET_PREFIX + "0/24")]
    ours += [ipaddress.ip_network(f"172.31.{99 + i}.0/24") for i in range(count + 1)]
    routes = json.loads(_run(["ip", "-j", "-4", "route", "show", "table", "all"]).stdout or "[]")
    for route in routes:
        dst = route.get("dst", "default")
        if dst == "default" or route.get("dev") == BRIDGE or route.get("type") in ("broadcast", "local"):
            continue
        net = ipaddress.ip_network(dst if "/" in dst else dst + "/32", strict=False)
        clash = [str(o) for o in ours if o.overlaps(net)]
        if clash:
            raise LabError("lab", f"the machine already routes {dst} (dev {route.get('dev')}), "
                           f"which overlaps the lab's {', '.join(clash)}", "free that network first")


def _ensure_bridge(root: Path) -> None:
    if not Path(f"/sys/class/net/{BRIDGE}").exists():
        _run(["ip", "link", "add", BRIDGE, "type", "bridge"])
    _run(["ip", "link", "set", BRIDGE, "alias", f"gantry-lab:{Path(root).resolve()}"])
    if f"{BRIDGE_ADDRESS}/24" not in _run(["ip", "-o", "-4", "addr", "show", "dev", BRIDGE]).stdout:
        _run(["ip", "addr", "add", BRIDGE_ADDRESS + "/24", "dev", BRIDGE])
    _run(["ip", "link", "set", BRIDGE, "up"])


def _veth(netns: str) -> str:
    return "gl-" + netns.removeprefix(NETNS_PREFIX).removeprefix("gantry-")[:11]


def _add_netns(netns: str, address: str) -> None:
    _run(["ip", "netns", "add", netns])
    veth = _veth(netns)
    _run(["ip", "link", "add", veth, "type", "veth", "peer", "name", "eth0", "netns", netns])
    _run(["ip", "link", "set", veth, "master", BRIDGE, "up"])
    _run(["ip", "-n", netns, "addr", "add", address + "/24", "dev", "eth0"])
    _run(["ip", "-n", netns, "link", "set", "lo", "up"])
    _run(["ip", "-n", netns, "link", "set", "eth0", "up"])
    _run(["ip", "-n", netns, "route", "add", "default", "via", BRIDGE_ADDRESS])


def _lab_netns() -> list[str]:
    out = _run(["ip", "netns", "list"], check=False).stdout
    return [line.split()[0] for line in out.splitlines()
            if line.startswith(NETNS_PREFIX) or line.split()[0] == BUILDER_NETNS]


# ---------------------------------------------------------------- one engine, one host


@dataclass(frozen=True)
class _Node:
    """Where one lab host's (or the builder's) state lives."""

    name: str
    netns: str
    address: str
    dir: Path
    index: int

    @property
    def sock(self) -> Path:
        return self.dir / "docker" / "docker.sock"

    @property
    def bip(self) -> str:
        return f"172.31.{99 + self.index}.1/24"


def _node(state: Path, index: int) -> _Node:
    if index == 0:
        return _Node(BUILDER, BUILDER_NETNS, BUILDER_ADDRESS, state / BUILDER, 0)
    return _Node(f"lab-{index}", f"{NETNS_PREFIX}{index}", f"{NET_PREFIX}{10 + index}",
                 state / f"lab-{index}", index)


def _start_holder(node: _Node) -> int:
    proc = subprocess.Popen(["unshare", "--mount", "--propagation", "private", "sleep", "infinity"],
                            stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                            start_new_session=True, env={"PATH": CLEAN_PATH, HOLDER_MARK: str(node.dir)})
    own = os.stat("/proc/self/ns/mnt").st_ino

    def entered() -> bool:
        try:
            return os.stat(f"/proc/{proc.pid}/ns/mnt").st_ino != own and "sleep" in _cmdline(proc.pid)
        except OSError:
            return False

    if not _wait_for(entered, 5, 0.01):
        raise LabError(node.name, "the mount namespace holder did not start")
    _write_atomic(node.dir / "holder.pid", f"{proc.pid}\n")
    ns = [f"--mount=/proc/{proc.pid}/ns/mnt"]
    mounts = [(node.dir / "srv", "/srv"), (node.dir / "home", "/root")]
    if Path("/run/containerd").is_dir():  # hide a system containerd: each dockerd must run its own
        mounts.append((node.dir / "run-containerd", "/run/containerd"))
    for src, target in mounts:
        src.mkdir(parents=True, exist_ok=True)
        _run(["nsenter", *ns, "mount", "--bind", str(src), target], where=node.name)
    return proc.pid


def _install_compose_plugin(home: Path) -> None:
    """Give the host's own home the compose plugin, unless the docker CLI finds it in a system dir."""
    if any(Path(d, "docker-compose").exists() for d in PLUGIN_DIRS):
        return
    source = Path.home() / ".docker" / "cli-plugins" / "docker-compose"
    if not source.exists():
        raise LabError("lab", f"no docker compose plugin at {source}", "run scripts/setup.sh")
    target = home / ".docker" / "cli-plugins" / "docker-compose"
    if target.exists():
        return
    target.parent.mkdir(parents=True, exist_ok=True)
    try:
        os.link(source.resolve(), target)
    except OSError:
        shutil.copy2(source.resolve(), target)


def _start_dockerd(node: _Node, holder: int | None) -> subprocess.Popen[bytes]:
    engine = node.dir / "docker"
    engine.mkdir(parents=True, exist_ok=True)
    config = {
        "data-root": str(engine / "data"), "exec-root": str(engine / "exec"),
        "pidfile": str(engine / "docker.pid"), "hosts": [f"unix://{node.sock}"],
        "bip": node.bip, "insecure-registries": [REGISTRY], "cgroup-parent": f"/{node.netns}",
        "shutdown-timeout": 5, "log-level": "warn",
    }
    _write_atomic(node.dir / "daemon.json", json.dumps(config, indent=2) + "\n")
    mount = [f"--mount=/proc/{holder}/ns/mnt"] if holder else []
    # The builder has no holder: it gets a private mount namespace of its own, gone when it exits.
    private = [] if holder else ["unshare", "--mount", "--propagation", "private"]
    argv = ["nsenter", *mount, f"--net=/var/run/netns/{node.netns}", *private,
            "dockerd", "--config-file", str(node.dir / "daemon.json")]
    with open(node.dir / "dockerd.log", "ab") as log:
        return subprocess.Popen(argv, stdin=subprocess.DEVNULL, stdout=log, stderr=log,
                                start_new_session=True, env={"PATH": CLEAN_PATH, "HOME": "/root"})


def _sshd_config(node: _Node) -> str:
    d = node.dir
    return "\n".join([
        "# gantry lab host; written by gantry/lab.py",
        f"ListenAddress {node.address}", "Port 22",
        f'HostKey "{d}/ssh_host_ed25519_key"', f'AuthorizedKeysFile "{d}/authorized_keys"',
        f'PidFile "{d}/sshd.pid"', "PubkeyAuthentication yes", "PasswordAuthentication no",
        "KbdInteractiveAuthentication no", "PermitRootLogin prohibit-password", "StrictModes no",
        "UsePAM no", "PrintMotd no", "UseDNS no", "MaxStartups 100:30:200", "MaxSessions 100",
        "Subsystem sftp /usr/lib/openssh/sftp-server", f'SetEnv "DOCKER_HOST=unix://{node.sock}"', "",
    ])


def _start_sshd(node: _Node, holder: int, client_pub: str) -> None:
    key = node.dir / "ssh_host_ed25519_key"
    if not key.exists():
        _run(["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-C", node.name, "-f", str(key)])
    _write_atomic(node.dir / "authorized_keys", client_pub)
    _write_atomic(node.dir / "sshd_config", _sshd_config(node))
    Path("/run/sshd").mkdir(mode=0o755, exist_ok=True)
    (node.dir / "sshd.pid").unlink(missing_ok=True)
    _run(["nsenter", f"--mount=/proc/{holder}/ns/mnt", f"--net=/var/run/netns/{node.netns}",
          "/usr/sbin/sshd", "-f", str(node.dir / "sshd_config"), "-E", str(node.dir / "sshd.log")],
         where=node.name, env={"PATH": CLEAN_PATH})


def _node_healthy(node: _Node) -> bool:
    holder = _read_pid(node.dir / "holder.pid")
    return (Path(f"/run/netns/{node.netns}").exists() and _alive(holder) and holder in _holder_pids(node.dir)
            and _alive(_read_pid(node.dir / "docker" / "docker.pid")) and _docker_ping(node.sock)
            and _alive(_read_pid(node.dir / "sshd.pid")))


def _start_node(node: _Node, client_pub: str, log: Log) -> subprocess.Popen[bytes]:
    """(Re)start a host: namespaces, private /srv and /root, dockerd, sshd; returns dockerd's process.

    Like a rebooted server, a restarted host keeps its host key, /srv, home and engine data; only
    runtime state (the engine's exec-root, sockets, pid files) starts afresh.
    """
    _remove_node(node, keep_dir=node.index > 0)
    for runtime in ("docker/exec", "docker/docker.sock", "docker/docker.pid", "sshd.pid", "holder.pid"):
        path = node.dir / runtime
        shutil.rmtree(path) if path.is_dir() else path.unlink(missing_ok=True)
    node.dir.mkdir(parents=True, exist_ok=True)
    _add_netns(node.netns, node.address)
    holder = None
    if node.index:
        (node.dir / "home").mkdir(exist_ok=True)
        _install_compose_plugin(node.dir / "home")
        holder = _start_holder(node)
    dockerd = _start_dockerd(node, holder)
    if holder:
        _start_sshd(node, holder, client_pub)
    log(f"{node.name}: starting at {node.address}")
    return dockerd


def _remove_node(node: _Node, *, keep_dir: bool = False) -> None:
    """Stop everything of one host and delete its namespace; safe on a half-made host."""
    dockerd = [p for p in _pids_in_netns(node.netns) if "dockerd" in _cmdline(p)]
    _kill(dockerd, grace=12)  # dockerd stops its containers first (shutdown-timeout 5 s)
    _kill(_pids_in_netns(node.netns) + _pids_mentioning(str(node.dir) + "/"), grace=3)
    _kill_cgroup(f"/{node.netns}")
    _kill(_holder_pids(node.dir), grace=1)
    if Path(f"/run/netns/{node.netns}").exists():
        _run(["ip", "netns", "delete", node.netns], where=node.name)
    if Path(f"/sys/class/net/{_veth(node.netns)}").exists():
        _run(["ip", "link", "delete", _veth(node.netns)], where=node.name, check=False)
    if not keep_dir and node.dir.exists():
        shutil.rmtree(node.dir, ignore_errors=True)


def _kill_cgroup(parent: str) -> None:
    """Kill what is left in the containers' cgroups and remove them (cgroup v1 and v2)."""
    base = Path("/sys/fs/cgroup")
    dirs = [base / parent.lstrip("/")] + [c / parent.lstrip("/") for c in base.iterdir() if c.is_dir()]
    dirs = [d for d in dirs if d.is_dir() and (d / "cgroup.procs").exists()]
    pids = set()
    for d in dirs:
        for procs in d.rglob("cgroup.procs"):
            pids.update(int(p) for p in procs.read_text().split() if p.strip())
    _kill(pids, grace=1)
    for d in dirs:
        for sub in sorted((p for p in d.rglob("*") if p.is_dir()), key=lambda p: -len(p.parts)) + [d]:
            try:
                sub.rmdir()
            except OSError:
                pass


# ---------------------------------------------------------------- registry and images


def _ensure_registry(state: Path, log: Log) -> None:
    d = state / "registry"
    pid = _read_pid(d / "registry.pid")
    if _alive(pid) and f"{d}/" in _cmdline(pid) and _http_status(f"http://{REGISTRY}/v2/") == 200:
        return
    _kill(_pids_mentioning(f"{d}/"), grace=2)
    (d / "data").mkdir(parents=True, exist_ok=True)
    _write_atomic(d / "config.yml", "\n".join([
        "version: 0.1", "log: {level: warn}", "storage:", f"  filesystem: {{rootdirectory: {d}/data}}",
        "  delete: {enabled: true}", f"http: {{addr: '{REGISTRY}'}}", ""]))
    with open(d / "registry.log", "ab") as out:
        proc = subprocess.Popen(["docker-registry", "serve", f"{d}/config.yml"], stdin=subprocess.DEVNULL,
                                stdout=out, stderr=out, start_new_session=True, env={"PATH": CLEAN_PATH})
    _write_atomic(d / "registry.pid", f"{proc.pid}\n")
    if not _wait_for(lambda: _http_status(f"http://{REGISTRY}/v2/") == 200, 10):
        raise LabError("registry", f"the registry did not answer on {REGISTRY} within 10 s",
                       f"see {d}/registry.log")
    log(f"registry: serving on {REGISTRY}")


def _missing_images() -> list[str]:
    accept = ("application/vnd.docker.distribution.manifest.v2+json, "
              "application/vnd.oci.image.manifest.v1+json")
    return [name for name in IMAGES
            if _http_status(f"http://{REGISTRY}/v2/gantry-example/{name}/manifests/{IMAGE_TAG}",
                            "HEAD", {"Accept": accept}) != 200]


def _example_dir(root: Path) -> Path:
    for candidate in (Path(root) / "example", Path(__file__).resolve().parents[1] / "example"):
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
        tag = f"{REGISTRY}/gantry-example/{name}:{IMAGE_TAG}"
        _run(["docker", "build", "--network", "none", "-q", "-t", tag, str(context)],
             where=f"build {name}", timeout=300, env=env)
        _run(["docker", "push", "-q", tag], where=f"push {name}", timeout=120, env=env)
        log(f"registry: pushed {tag}")


# ---------------------------------------------------------------- the lab


def _wait_host(lab: Lab, node: _Node, host: LabHost, dockerd: subprocess.Popen[bytes] | None) -> None:
    _wait_engine(node, dockerd)
    probe = ssh_argv(lab, host, "docker info --format '{{.ServerVersion}}' && docker compose version --short")
    last: list[str] = []

    def answers() -> bool:
        done = _run(probe, where=node.name, check=False, timeout=15)
        last[:] = (done.stderr or done.stdout).strip().splitlines()[-2:]
        return done.returncode == 0

    if not _wait_for(answers, SSHD_TIMEOUT, 0.1):
        raise LabError(node.name, f"ssh + docker did not answer within {SSHD_TIMEOUT:.0f} s: {' | '.join(last)}",
                       f"see {_shown(node.dir / 'sshd.log')} and {_shown(node.dir / 'dockerd.log')}")


def _make_lab(root: Path, count: int) -> Lab:
    state = state_dir(root)
    hosts = tuple(LabHost(n.name, n.address, 22, f"unix://{n.sock}")
                  for n in (_node(state, i) for i in range(1, count + 1)))
    return Lab(Path(root).resolve(), hosts, REGISTRY, state / "id_ed25519", state / "known_hosts",
               state / "inventory.yml")


def _write_client_files(lab: Lab) -> None:
    state = state_dir(lab.root)
    lines = []
    for i, host in enumerate(lab.hosts, start=1):
        kind, key = (_node(state, i).dir / "ssh_host_ed25519_key.pub").read_text().split()[:2]
        lines.append(f"{host.address} {kind} {key}\n")
    _write_atomic(lab.known_hosts, "".join(lines))
    import yaml  # a gantry dependency; imported here so that `python -m gantry.lab` starts fast

    rows = [{"name": h.name, "address": h.address, "port": h.ssh_port, "user": "root",
             "identity_file": str(lab.identity_file)} for h in lab.hosts]
    _write_atomic(lab.inventory, f"# gantry lab hosts (registry {lab.registry}); written by gantry/lab.py\n"
                  + yaml.safe_dump(rows, default_flow_style=None, sort_keys=False, width=1000))
    _write_atomic(state / "lab.json", json.dumps({"root": str(lab.root), "count": len(lab.hosts)}) + "\n")


def _indices(state: Path) -> set[int]:
    """Host numbers that exist in any form: a namespace or a state dir."""
    found = {int(n.removeprefix(NETNS_PREFIX)) for n in _lab_netns()
             if n.removeprefix(NETNS_PREFIX).isdigit()}
    if state.is_dir():
        found |= {int(p.name[4:]) for p in state.glob("lab-*") if p.name[4:].isdigit()}
    return found


@contextmanager
def _machine_lock(log: Log) -> Iterator[None]:
    """One lab command at a time on this machine: the lab's names are machine-wide."""
    Path("/run/lock").mkdir(parents=True, exist_ok=True)
    with open("/run/lock/gantry-lab.lock", "w") as lock:
        try:
            fcntl.flock(lock, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            log("lab: waiting for another lab command on this machine to finish")
            fcntl.flock(lock, fcntl.LOCK_EX)
        yield


def lab_up(root: Path, count: int, *, log: Log = print) -> Lab:
    """Bring up `count` hosts, reusing healthy ones and removing extras; returns when all answer ssh."""
    if count < 1:
        raise LabError("lab", f"a lab needs at least one host, got {count}", "pass --hosts 1 or more")
    if os.geteuid() != 0:
        raise LabError("lab", "not root", "the lab creates namespaces and a bridge: run it as root")
    with _machine_lock(log):
        return _lab_up(root, count, log)


def _lab_up(root: Path, count: int, log: Log) -> Lab:
    started = time.monotonic()
    state = state_dir(root)
    _preflight(state)
    _check_owner(root, log)
    _check_routes(count)
    state.mkdir(parents=True, exist_ok=True)
    key = state / "id_ed25519"
    if not key.exists():
        _run(["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-C", "gantry-lab", "-f", str(key)])
    client_pub = (state / "id_ed25519.pub").read_text()
    _ensure_bridge(root)
    _ensure_registry(state, log)
    for extra in sorted(i for i in _indices(state) if i > count):
        log(f"lab-{extra}: removing (lab now has {count} hosts)")
        _remove_node(_node(state, extra))
    missing = _missing_images()
    if not missing:
        log(f"registry: example images {', '.join(IMAGES)}:{IMAGE_TAG} present, build skipped")
    builder = _node(state, 0)
    builder_dockerd = _start_node(builder, client_pub, log) if missing else None
    nodes = [_node(state, i) for i in range(1, count + 1)]
    dockerds: dict[str, subprocess.Popen[bytes] | None] = {}
    for node in nodes:
        if _node_healthy(node):
            log(f"{node.name}: already up at {node.address}")
            dockerds[node.name] = None
        else:
            dockerds[node.name] = _start_node(node, client_pub, log)
    lab = _make_lab(root, count)
    _write_client_files(lab)
    with ThreadPoolExecutor(max_workers=count + 1) as pool:
        futures = [pool.submit(_wait_host, lab, n, h, dockerds[n.name])
                   for n, h in zip(nodes, lab.hosts, strict=True)]
        if builder_dockerd:
            futures.append(pool.submit(_build_images, builder, builder_dockerd, missing, _example_dir(root),
                                       log))
        errors = [f.exception() for f in futures if f.exception() is not None]
    if missing:
        _remove_node(builder)
    for error in errors[1:]:
        log(f"also: {error}")
    if errors:
        raise errors[0]
    log(f"lab: {count} host(s) up in {time.monotonic() - started:.1f} s; registry {REGISTRY}; "
        f"inventory {lab.inventory}")
    return lab


def lab_status(root: Path) -> Lab | None:
    """The lab if it is up and every host is healthy, else None."""
    state = state_dir(root)
    try:
        count = int(json.loads((state / "lab.json").read_text())["count"])
    except (OSError, ValueError, KeyError):
        return None
    if _owner() != Path(root).resolve():
        return None
    if not all(_node_healthy(_node(state, i)) for i in range(1, count + 1)):
        return None
    return _make_lab(root, count)


def lab_down(root: Path, *, log: Log = print) -> None:
    """Stop and remove everything the lab made; safe on a half-made or already removed lab."""
    if os.geteuid() != 0:
        raise LabError("lab", "not root", "the lab's namespaces and bridge can only be removed as root")
    with _machine_lock(log):
        _lab_down(root, log)


def _lab_down(root: Path, log: Log) -> None:
    started = time.monotonic()
    state = state_dir(root)
    _check_owner(root)
    nodes = [_node(state, i) for i in sorted(_indices(state) | {0})]
    # All engines at once: each stops its containers within its shutdown-timeout.
    _kill([p for n in nodes for p in _pids_in_netns(n.netns) if "dockerd" in _cmdline(p)], grace=12)
    for node in nodes:
        _remove_node(node)
        if node.index:
            log(f"{node.name}: removed")
    _kill(_pids_mentioning(f"{state}/") + _holder_pids(state), grace=3)
    if Path(f"/sys/class/net/{BRIDGE}").exists():
        _run(["ip", "link", "delete", BRIDGE])
    for mount in reversed(_mounts_under(state)):
        _run(["umount", "-l", mount], check=False)
    shutil.rmtree(state, ignore_errors=True)
    log(f"lab: down in {time.monotonic() - started:.1f} s")


def _mounts_under(state: Path) -> list[str]:
    points = [line.split()[4] for line in Path("/proc/self/mountinfo").read_text().splitlines()]
    return [p for p in points if p == str(state) or p.startswith(f"{state}/")]


def main(argv: list[str]) -> int:
    """`python -m gantry.lab up N | down | status [ROOT]` for manual use; the CLI has `inv lab.*`."""
    usage = "usage: python -m gantry.lab up N [ROOT] | down [ROOT] | status [ROOT]"
    if not argv or argv[0] not in ("up", "down", "status") or (argv[0] == "up" and len(argv) < 2):
        print(usage, file=sys.stderr)
        return 2
    try:
        if argv[0] == "up":
            lab_up(Path(argv[2] if len(argv) > 2 else "."), int(argv[1]))
        elif argv[0] == "down":
            lab_down(Path(argv[1] if len(argv) > 1 else "."))
        else:
            lab = lab_status(Path(argv[1] if len(argv) > 1 else "."))
            print("down" if lab is None else "\n".join(f"{h.name} {h.address}" for h in lab.hosts))
    except GantryError as exc:
        print(exc, file=sys.stderr)
        return exc.exit_code
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
