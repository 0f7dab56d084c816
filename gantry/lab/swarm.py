"""A Docker Swarm made of the lab's hosts: the first `managers` hosts manage, the next `workers` work.

Idempotent: a host already in the lab's swarm with the right role is left alone; one in another swarm,
or with the wrong role, leaves and joins again; nodes of hosts the lab no longer has are removed. The lab
writes `.gantry/lab/managers.yml` (the managers, in the inventory's shape) for `environments/swarm.yml`.

All lab dockerds share one UTS namespace, so every node reports the same hostname: nodes are told apart
by their address (`Status.Addr`), never by hostname.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from gantry.lab.model import Lab, LabError, LabHost, Log, state_dir
from gantry.lab.procs import _run, _wait_for, _write_atomic

SWARM_FILE = "swarm.json"
MANAGERS_INVENTORY = "managers.yml"
READY_TIMEOUT = 30.0


@dataclass(frozen=True)
class SwarmLayout:
    """Which lab hosts manage and which work (by address)."""

    managers: tuple[LabHost, ...]
    workers: tuple[LabHost, ...]

    @property
    def hosts(self) -> tuple[LabHost, ...]:
        return self.managers + self.workers

    def role(self, host: LabHost) -> str:
        return "manager" if host in self.managers else "worker"


def layout_of(lab: Lab, managers: int, workers: int) -> SwarmLayout:
    if managers < 1:
        raise LabError("lab", f"a swarm needs at least one manager, got {managers}", "pass --managers 1 or more")
    if workers < 0 or len(lab.hosts) < managers + workers:
        raise LabError("lab", f"{managers} manager(s) + {workers} worker(s) need {managers + workers} hosts, the "
                       f"lab has {len(lab.hosts)}", "bring the lab up with enough hosts")
    return SwarmLayout(lab.hosts[:managers], lab.hosts[managers:managers + workers])


def _docker(host: LabHost, *args: str, check: bool = True, timeout: float = 30):
    return _run(["docker", "-H", host.docker_host, *args], where=host.name, check=check, timeout=timeout)


def _swarm_info(host: LabHost) -> dict:
    done = _docker(host, "info", "--format", "{{json .Swarm}}")
    try:
        info = json.loads(done.stdout)
    except ValueError as exc:
        raise LabError(host.name, "`docker info` printed no swarm state") from exc
    return info if isinstance(info, dict) else {}


def _nodes(manager: LabHost) -> list[dict]:
    """`docker node inspect` of every node: ID, role, address, state."""
    ids = _docker(manager, "node", "ls", "-q").stdout.split()
    if not ids:
        return []
    found = json.loads(_docker(manager, "node", "inspect", *ids).stdout or "[]")
    return [{"id": n.get("ID", ""), "role": (n.get("Spec") or {}).get("Role", ""),
             "addr": (n.get("Status") or {}).get("Addr", ""), "state": (n.get("Status") or {}).get("State", ""),
             "leader": bool((n.get("ManagerStatus") or {}).get("Leader"))} for n in found]


def _leave(host: LabHost) -> None:
    _docker(host, "swarm", "leave", "--force", check=False)


def _init(leader: LabHost, log: Log) -> None:
    info = _swarm_info(leader)
    if info.get("LocalNodeState") == "active" and info.get("ControlAvailable"):
        if _docker(leader, "node", "ls", "-q", check=False).returncode == 0:
            return
        # A manager without quorum (another manager left without a demote): the lab's swarm restarts from it.
        _docker(leader, "swarm", "init", "--force-new-cluster", "--advertise-addr", leader.address,
                "--listen-addr", f"{leader.address}:2377")
        log(f"{leader.name}: swarm had lost its quorum; re-formed from this manager")
        return
    if info.get("LocalNodeState") != "inactive":
        _leave(leader)
    _docker(leader, "swarm", "init", "--advertise-addr", leader.address, "--listen-addr", f"{leader.address}:2377")
    log(f"{leader.name}: swarm initialised at {leader.address}:2377")


def _join(host: LabHost, role: str, leader: LabHost, tokens: dict[str, str], member: dict[str, dict],
          log: Log) -> None:
    """Make `host` a node of the leader's swarm in `role`: promote or demote a member, else (re)join."""
    info = _swarm_info(host)
    node = member.get(host.address)
    if info.get("LocalNodeState") == "active" and node and node["id"] == info.get("NodeID"):
        if node["role"] != role:  # never let a manager leave: that would cost the swarm its quorum
            _docker(leader, "node", "promote" if role == "manager" else "demote", node["id"])
            log(f"{host.name}: now a {role}")
        return
    if info.get("LocalNodeState") != "inactive":
        _leave(host)
    _docker(host, "swarm", "join", "--token", tokens[role], "--advertise-addr", host.address,
            "--listen-addr", f"{host.address}:2377", f"{leader.address}:2377", timeout=60)
    log(f"{host.name}: joined the swarm as {role}")


def form_swarm(lab: Lab, managers: int, workers: int, *, log: Log = print) -> SwarmLayout:
    """Make the lab's swarm match `managers` + `workers` hosts; returns when every node is Ready."""
    layout = layout_of(lab, managers, workers)
    leader = layout.managers[0]
    _init(leader, log)
    tokens = {role: _docker(leader, "swarm", "join-token", "-q", role).stdout.strip()
              for role in ("manager", "worker")}
    for host in layout.hosts[1:]:
        member = {n["addr"]: n for n in _nodes(leader) if n["state"] == "ready"}
        _join(host, layout.role(host), leader, tokens, member, log)
    for host in lab.hosts[len(layout.hosts):]:  # lab hosts beyond the swarm stay out of it
        if _swarm_info(host).get("LocalNodeState") != "inactive":
            _leave(host)
    _remove_stale(leader, layout, log)
    wanted = {h.address: layout.role(h) for h in layout.hosts}

    def ready() -> bool:
        nodes = {n["addr"]: n for n in _nodes(leader) if n["state"] == "ready"}
        return all(a in nodes and nodes[a]["role"] == r for a, r in wanted.items()) and len(nodes) == len(wanted)

    if not _wait_for(ready, READY_TIMEOUT, 0.5):
        raise LabError(leader.name, f"the swarm's nodes were not all Ready within {READY_TIMEOUT:.0f} s",
                       f"see `DOCKER_HOST={leader.docker_host} docker node ls`")
    _write_files(lab, layout)
    log(f"swarm: {len(layout.managers)} manager(s), {len(layout.workers)} worker(s) ready")
    return layout


def _remove_stale(leader: LabHost, layout: SwarmLayout, log: Log) -> None:
    """Nodes that are not one of the layout's hosts in its role (a host that left, or rejoined)."""
    wanted = {h.address: layout.role(h) for h in layout.hosts}
    for node in _nodes(leader):
        ours = wanted.get(node["addr"]) == node["role"] and node["state"] == "ready"
        if ours:
            continue
        if node["role"] == "manager":
            _docker(leader, "node", "demote", node["id"], check=False)
        _docker(leader, "node", "rm", "--force", node["id"], check=False)
        log(f"swarm: removed the stale node {node['id'][:12]} ({node['addr'] or 'no address'})")


def _write_files(lab: Lab, layout: SwarmLayout) -> None:
    import yaml  # a gantry dependency, imported late as in gantry.lab

    state = state_dir(lab.root)
    rows = [{"name": h.name, "address": h.address, "port": h.ssh_port, "user": "root",
             "identity_file": str(lab.identity_file)} for h in layout.managers]
    _write_atomic(state / MANAGERS_INVENTORY, "# gantry lab swarm managers; written by `inv lab.swarm`\n"
                  + yaml.safe_dump(rows, default_flow_style=None, sort_keys=False, width=1000))
    _write_atomic(state / SWARM_FILE, json.dumps({"managers": [h.name for h in layout.managers],
                                                  "workers": [h.name for h in layout.workers]}) + "\n")


def swarm_of(lab: Lab) -> SwarmLayout | None:
    """The swarm `form_swarm` last made of this lab (None when there is none)."""
    try:
        data = json.loads((state_dir(lab.root) / SWARM_FILE).read_text())
    except (OSError, ValueError):
        return None
    by_name = {h.name: h for h in lab.hosts}
    pick = lambda names: tuple(by_name[n] for n in names if n in by_name)  # noqa: E731
    return SwarmLayout(pick(data.get("managers", [])), pick(data.get("workers", [])))


def leave_swarm(state: Path, hosts: Sequence[LabHost]) -> None:
    """Every host leaves its swarm (workers first), so engines stop without waiting on a raft quorum."""
    if not (state / SWARM_FILE).exists():
        return
    managers = set(json.loads((state / SWARM_FILE).read_text() or "{}").get("managers", []))
    for host in sorted(hosts, key=lambda h: h.name in managers):
        try:
            _docker(host, "swarm", "leave", "--force", check=False, timeout=15)
        except LabError:
            pass  # an engine that no longer answers has nothing to leave
    for name in (SWARM_FILE, MANAGERS_INVENTORY):
        (state / name).unlink(missing_ok=True)
