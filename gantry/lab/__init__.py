"""Local lab: N hosts on this machine, each a network + mount namespace with its own sshd and dockerd.

Several labs can share a machine, one per slot (GANTRY_LAB_SLOT, default 0): slot N has its own bridge
`gantry-brN`, namespaces, runtime dir and 10.231.(47+N).0/24, so parallel test workers or developers do not
collide. A lab records its slot in its state dir; the bridge's alias records which project root owns a
slot. Every process the lab starts carries the state dir in its argv or lives in a lab namespace, which
is how `lab_down` finds them even without pid files.
"""

from __future__ import annotations

import fcntl
import json
import os
import shutil
import subprocess
import sys
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from pathlib import Path

from gantry.errors import GantryError
from gantry.lab.images import _build_images, _ensure_registry, _example_dir, _missing_images, _shown, _wait_engine
from gantry.lab.model import (
    IMAGE_TAG,
    IMAGES,
    SSHD_TIMEOUT,
    Lab,
    LabError,
    LabHost,
    Log,
    Net,
    requested_net,
    ssh_argv,
    state_dir,
)
from gantry.lab.network import _check_routes, _ensure_bridge, _lab_netns, _owner, _preflight
from gantry.lab.node import _Node, _node, _node_healthy, _remove_node, _start_node
from gantry.lab.procs import (
    _cmdline,
    _holder_pids,
    _kill,
    _pids_in_netns,
    _pids_mentioning,
    _run,
    _wait_for,
    _write_atomic,
)
from gantry.lab.swarm import SwarmLayout, form_swarm, leave_swarm, swarm_of


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


def _make_lab(root: Path, count: int, net: Net) -> Lab:
    state = state_dir(root)
    hosts = tuple(LabHost(n.name, n.address, 22, f"unix://{n.sock}")
                  for n in (_node(state, i, net) for i in range(1, count + 1)))
    return Lab(Path(root).resolve(), hosts, net.registry, state / "id_ed25519", state / "known_hosts",
               state / "inventory.yml")


def _net_of(state: Path) -> Net:
    """The slot a lab was made in (recorded at its start), else the one GANTRY_LAB_SLOT asks for."""
    try:
        return Net(int((state / "slot").read_text().strip()))
    except (OSError, ValueError):
        return requested_net()


def _write_client_files(lab: Lab, net: Net) -> None:
    state = state_dir(lab.root)
    lines = []
    for i, host in enumerate(lab.hosts, start=1):
        kind, key = (_node(state, i, net).dir / "ssh_host_ed25519_key.pub").read_text().split()[:2]
        lines.append(f"{host.address} {kind} {key}\n")
    _write_atomic(lab.known_hosts, "".join(lines))
    import yaml  # a gantry dependency; imported here so that `python -m gantry.lab` starts fast

    rows = [{"name": h.name, "address": h.address, "port": h.ssh_port, "user": "root",
             "identity_file": str(lab.identity_file)} for h in lab.hosts]
    _write_atomic(lab.inventory, f"# gantry lab hosts (registry {lab.registry}); written by gantry.lab\n"
                  + yaml.safe_dump(rows, default_flow_style=None, sort_keys=False, width=1000))
    _write_atomic(state / "lab.json", json.dumps({"root": str(lab.root), "count": len(lab.hosts),
                                                  "slot": net.slot}) + "\n")


def _indices(state: Path, net: Net) -> set[int]:
    """Host numbers that exist in any form: a namespace or a state dir."""
    found = {int(n.removeprefix(net.netns_prefix)) for n in _lab_netns(net)
             if n.removeprefix(net.netns_prefix).isdigit()}
    if state.is_dir():
        found |= {int(p.name[4:]) for p in state.glob("lab-*") if p.name[4:].isdigit()}
    return found


__all__ = ["IMAGES", "IMAGE_TAG", "Lab", "Net", "LabError", "LabHost", "SwarmLayout", "lab_down", "lab_status",
           "lab_swarm", "lab_up", "main", "ssh_argv", "state_dir", "swarm_of"]


@contextmanager
def _machine_lock(net: Net, log: Log) -> Iterator[None]:
    """One lab command at a time per slot: a slot's names are machine-wide."""
    Path("/run/lock").mkdir(parents=True, exist_ok=True)
    with open(net.lock_file, "w") as lock:
        try:
            fcntl.flock(lock, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            log(f"lab: waiting for another lab command on slot {net.slot} to finish")
            fcntl.flock(lock, fcntl.LOCK_EX)
        yield

def _check_owner(root: Path, net: Net, log: Log | None = None) -> None:
    """Refuse another project's lab; with `log` (lab_up), take over one whose project dir is gone."""
    owner = _owner(net)
    if owner is not None and owner != Path(root).resolve() and log and not state_dir(owner).exists():
        log(f"lab: removing a stale lab of {owner} (its state dir is gone)")
        _lab_down(owner, net, log)
        owner = _owner(net)
    if owner is not None and owner != Path(root).resolve():
        raise LabError("lab", f"a lab owned by {owner} already uses slot {net.slot} on this machine",
                       f"bring it down first (GANTRY_LAB_SLOT={net.slot} python -m gantry.lab down {owner}),"
                       f" or use another slot: GANTRY_LAB_SLOT=N with N from 0 to 15")


def lab_up(root: Path, count: int, *, log: Log = print) -> Lab:
    """Bring up `count` hosts, reusing healthy ones and removing extras; returns when all answer ssh."""
    if count < 1:
        raise LabError("lab", f"a lab needs at least one host, got {count}", "pass --hosts 1 or more")
    if os.geteuid() != 0:
        raise LabError("lab", "not root", "the lab creates namespaces and a bridge: run it as root")
    state = state_dir(root)
    net = _net_of(state)
    if (state / "slot").exists() and net != requested_net() and _owner(net) == Path(root).resolve():
        raise LabError("lab", f"this project's lab is up on slot {net.slot}, not {requested_net().slot}",
                       f"bring it down first (GANTRY_LAB_SLOT={net.slot} inv lab.down)")
    net = requested_net()
    with _machine_lock(net, log):
        return _lab_up(root, count, net, log)


def _lab_up(root: Path, count: int, net: Net, log: Log) -> Lab:
    started = time.monotonic()
    state = state_dir(root)
    _preflight(state)
    _check_owner(root, net, log)
    _check_routes(net, count)
    state.mkdir(parents=True, exist_ok=True)
    _write_atomic(state / "slot", f"{net.slot}\n")
    key = state / "id_ed25519"
    if not key.exists():
        _run(["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-C", "gantry-lab", "-f", str(key)])
    client_pub = (state / "id_ed25519.pub").read_text()
    _ensure_bridge(net, root)
    _ensure_registry(net, state, log)
    for extra in sorted(i for i in _indices(state, net) if i > count):
        log(f"lab-{extra}: removing (lab now has {count} hosts)")
        _remove_node(_node(state, extra, net))
    missing = _missing_images(net.registry)
    if not missing:
        log(f"registry: example images {', '.join(IMAGES)}:{IMAGE_TAG} present, build skipped")
    builder = _node(state, 0, net)
    builder_dockerd = _start_node(builder, client_pub, log) if missing else None
    nodes = [_node(state, i, net) for i in range(1, count + 1)]
    dockerds: dict[str, subprocess.Popen[bytes] | None] = {}
    for node in nodes:
        if _node_healthy(node):
            log(f"{node.name}: already up at {node.address}")
            dockerds[node.name] = None
        else:
            dockerds[node.name] = _start_node(node, client_pub, log)
    lab = _make_lab(root, count, net)
    _write_client_files(lab, net)
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
    log(f"lab: {count} host(s) up in {time.monotonic() - started:.1f} s; registry {net.registry}; "
        f"inventory {lab.inventory}")
    return lab


def lab_swarm(root: Path, managers: int, workers: int, *, log: Log = print) -> tuple[Lab, SwarmLayout]:
    """Bring up `managers + workers` hosts (as lab_up does) and make them one swarm; idempotent."""
    lab = lab_up(root, managers + workers, log=log)
    with _machine_lock(_net_of(state_dir(root)), log):
        return lab, form_swarm(lab, managers, workers, log=log)


def lab_status(root: Path) -> Lab | None:
    """The lab if it is up and every host is healthy, else None."""
    state = state_dir(root)
    try:
        count = int(json.loads((state / "lab.json").read_text())["count"])
    except (OSError, ValueError, KeyError):
        return None
    net = _net_of(state)
    if _owner(net) != Path(root).resolve():
        return None
    if not all(_node_healthy(_node(state, i, net)) for i in range(1, count + 1)):
        return None
    return _make_lab(root, count, net)


def lab_down(root: Path, *, log: Log = print) -> None:
    """Stop and remove everything the lab made; safe on a half-made or already removed lab."""
    if os.geteuid() != 0:
        raise LabError("lab", "not root", "the lab's namespaces and bridge can only be removed as root")
    net = _net_of(state_dir(root))
    with _machine_lock(net, log):
        _lab_down(root, net, log)


def _lab_down(root: Path, net: Net, log: Log) -> None:
    started = time.monotonic()
    state = state_dir(root)
    _check_owner(root, net)
    nodes = [_node(state, i, net) for i in sorted(_indices(state, net) | {0})]
    leave_swarm(state, [LabHost(n.name, n.address, 22, f"unix://{n.sock}") for n in nodes
                        if n.index and _node_healthy(n)])
    # All engines at once: each stops its containers within its shutdown-timeout.
    _kill([p for n in nodes for p in _pids_in_netns(n.netns) if "dockerd" in _cmdline(p)], grace=12)
    for node in nodes:
        _remove_node(node)
        if node.index:
            log(f"{node.name}: removed")
    _kill(_pids_mentioning(f"{state}/") + _holder_pids(state), grace=3)
    if Path(f"/sys/class/net/{net.bridge}").exists() and _owner(net) in (None, Path(root).resolve()):
        _run(["ip", "link", "delete", net.bridge])
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


