"""One lab host: a mount-namespace holder, its dockerd and its sshd."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
from dataclasses import dataclass
from pathlib import Path

from gantry.lab.model import (
    BUILDER,
    CLEAN_PATH,
    HOLDER_MARK,
    PLUGIN_DIRS,
    LabError,
    Log,
    Net,
)
from gantry.lab.network import _add_netns, _veth
from gantry.lab.procs import (
    _alive,
    _cmdline,
    _docker_ping,
    _holder_pids,
    _kill,
    _pids_in_netns,
    _pids_mentioning,
    _read_pid,
    _run,
    _wait_for,
    _write_atomic,
)


@dataclass(frozen=True)
class _Node:
    """Where one lab host's (or the builder's) state lives."""

    name: str
    netns: str
    address: str
    dir: Path
    index: int
    net: Net

    @property
    def run_dir(self) -> Path:
        """Runtime sockets live under a short machine-wide path: a unix socket path has at most 107 bytes,
        and a project checked out deep (or a pytest temp dir) would overflow containerd's socket path."""
        return self.net.run_root / self.name

    @property
    def sock(self) -> Path:
        return self.run_dir / "docker.sock"

    @property
    def bip(self) -> str:
        return f"172.31.{99 + self.index}.1/24"


def _node(state: Path, index: int, net: Net) -> _Node:
    if index == 0:
        return _Node(BUILDER, net.builder_netns, net.builder_address, state / BUILDER, 0, net)
    return _Node(f"lab-{index}", f"{net.netns_prefix}{index}", f"{net.prefix}{10 + index}",
                 state / f"lab-{index}", index, net)


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
        "data-root": str(engine / "data"), "exec-root": str(node.run_dir / "exec"),
        "pidfile": str(engine / "docker.pid"), "hosts": [f"unix://{node.sock}"],
        "bip": node.bip, "insecure-registries": [node.net.registry], "cgroup-parent": f"/{node.netns}",
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
        "# gantry lab host; written by gantry.lab",
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
    shutil.rmtree(node.run_dir, ignore_errors=True)
    node.run_dir.mkdir(parents=True, exist_ok=True)
    node.dir.mkdir(parents=True, exist_ok=True)
    _add_netns(node.net, node.netns, node.address)
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
    veth = _veth(node.net, node.netns)
    if Path(f"/sys/class/net/{veth}").exists():
        _run(["ip", "link", "delete", veth], where=node.name, check=False)
    shutil.rmtree(node.run_dir, ignore_errors=True)
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


