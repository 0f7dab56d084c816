"""Parsers of what a manager prints (pure): `docker service/node/task inspect` JSON, `ls --format json` lines.

Tested on output captured from the lab's Docker Engine 20.10 with the docker CLI 28 (tests/captured/
swarm-docker20.10/). Every field may be absent or null; nodes are told apart by ID and address, never by
hostname (lab nodes share one).
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass, field

from gantry.engines.hosts.facts import _dict, _json_values, parse_clock, parse_timestamp, split_sections

ROLLED_BACK = ("rollback_started", "rollback_paused", "rollback_completed")
PAUSED = ("paused",)


@dataclass(frozen=True)
class SwarmNode:
    id: str
    address: str
    role: str  # manager | worker
    state: str  # ready | down | unknown | disconnected
    availability: str  # active | pause | drain
    leader: bool = False

    @property
    def usable(self) -> bool:
        return self.state == "ready" and self.availability == "active"


@dataclass(frozen=True)
class SwarmService:
    id: str
    name: str  # <stack>_<service>
    replicas: int | None  # None: a global service
    image: str
    spec_key: str  # what tells this spec's tasks from an earlier spec's
    update_state: str = ""  # updating | completed | paused | rollback_started | rollback_completed | ...
    update_started: float = 0.0
    update_message: str = ""
    labels: Mapping[str, str] = field(default_factory=dict)
    has_healthcheck: bool = False

    def short_name(self, stack: str) -> str:
        return self.name.removeprefix(f"{stack}_")


@dataclass(frozen=True)
class SwarmTask:
    id: str
    service_id: str
    slot: int
    node_id: str
    desired: str  # running | shutdown | ...
    state: str  # new | pending | assigned | preparing | starting | running | complete | failed | rejected | ...
    message: str
    error: str
    exit_code: int
    created: float
    spec_key: str


@dataclass(frozen=True)
class SwarmState:
    """One read of a manager (commands.state)."""

    clock: float | None = None
    swarm: Mapping = field(default_factory=dict)
    nodes: tuple[SwarmNode, ...] = ()
    services: tuple[SwarmService, ...] = ()
    tasks: tuple[SwarmTask, ...] = ()
    secrets: tuple[str, ...] = ()
    complete: bool = False  # the output reached its end marker

    @property
    def is_manager(self) -> bool:
        return self.swarm.get("LocalNodeState") == "active" and bool(self.swarm.get("ControlAvailable"))


def spec_key(container_spec: Mapping) -> str:
    """A task's and its service's ContainerSpec compared on what an update changes (image, env, command,
    secrets): Swarm fills other fields differently in the two."""
    secrets = sorted(str(_dict(s).get("SecretName") or "") for s in container_spec.get("Secrets") or [])
    return json.dumps([container_spec.get("Image") or "", sorted(container_spec.get("Env") or []),
                       container_spec.get("Command") or [], container_spec.get("Args") or [], secrets])


def node_of_inspect(obj: Mapping) -> SwarmNode:
    spec, status = _dict(obj.get("Spec")), _dict(obj.get("Status"))
    return SwarmNode(str(obj.get("ID") or ""), str(status.get("Addr") or ""), str(spec.get("Role") or ""),
                     str(status.get("State") or "unknown"), str(spec.get("Availability") or ""),
                     bool(_dict(obj.get("ManagerStatus")).get("Leader")))


def service_of_inspect(obj: Mapping) -> SwarmService:
    spec = _dict(obj.get("Spec"))
    container = _dict(_dict(spec.get("TaskTemplate")).get("ContainerSpec"))
    mode = _dict(spec.get("Mode"))
    replicas = None if "Global" in mode else int(_dict(mode.get("Replicated")).get("Replicas") or 0)
    update = _dict(obj.get("UpdateStatus"))
    health = _dict(container.get("Healthcheck")).get("Test") or []
    return SwarmService(
        id=str(obj.get("ID") or ""), name=str(spec.get("Name") or ""), replicas=replicas,
        image=str(container.get("Image") or ""), spec_key=spec_key(container),
        update_state=str(update.get("State") or ""), update_started=parse_timestamp(update.get("StartedAt")),
        update_message=str(update.get("Message") or ""),
        labels={str(k): str(v) for k, v in _dict(spec.get("Labels")).items()},
        has_healthcheck=bool(health) and health != ["NONE"])


def task_of_inspect(obj: Mapping) -> SwarmTask:
    status = _dict(obj.get("Status"))
    return SwarmTask(
        id=str(obj.get("ID") or ""), service_id=str(obj.get("ServiceID") or ""), slot=int(obj.get("Slot") or 0),
        node_id=str(obj.get("NodeID") or ""), desired=str(obj.get("DesiredState") or ""),
        state=str(status.get("State") or ""), message=str(status.get("Message") or ""),
        error=str(status.get("Err") or ""),
        exit_code=int(_dict(status.get("ContainerStatus")).get("ExitCode") or 0),
        created=parse_timestamp(obj.get("CreatedAt")),
        spec_key=spec_key(_dict(_dict(obj.get("Spec")).get("ContainerSpec"))))


def _objects(lines: list[str]) -> list[dict]:
    """The JSON objects of a section: inspect arrays (xargs may print several) or one object per line."""
    out: list[dict] = []
    for value in _json_values("\n".join(lines)):
        out += [v for v in (value if isinstance(value, list) else [value]) if isinstance(v, dict)]
    return out


def parse_json_lines(text: str) -> tuple[dict, ...]:
    """`docker ... ls --format json`: one object per line."""
    return tuple(_objects(text.splitlines()))


def parse_state(text: str) -> SwarmState:
    sections = split_sections(text)
    swarm = next(iter(_objects(sections.get("swarm", []))), {})
    return SwarmState(
        clock=parse_clock(sections.get("clock", [])), swarm=swarm,
        nodes=tuple(node_of_inspect(o) for o in _objects(sections.get("nodes", []))),
        services=tuple(sorted((service_of_inspect(o) for o in _objects(sections.get("services", []))),
                              key=lambda s: s.name)),
        tasks=tuple(task_of_inspect(o) for o in _objects(sections.get("tasks", []))),
        secrets=tuple(sorted(str(o.get("Name") or "") for o in _objects(sections.get("secrets", [])))),
        complete="end" in sections)
