"""Parsers of remote output about a host's containers: pure functions from text to facts.

A host's facts (its live release, kept releases, lock and containers), its engine's preflight, its containers
from `docker ps`, `docker inspect` and health polls, and kill events. The parsers of the host's records (lock
details, audit log, kept releases, image digests) are in gantry.engines.hosts.records; their names are also
importable from here.

`docker compose ps --format json` (Compose v2.21+) prints one JSON object per line; older v2
releases printed one JSON array. Both are accepted.
"""

from __future__ import annotations

import datetime
import json
import re
from dataclasses import dataclass, field

from gantry.engines.hosts.records import (
    AuditLines,
    LockInfo,
    ReleaseCheck,
    parse_audit,
    parse_image_config,
    parse_image_digests,
    parse_lock,
    parse_release_check,
    split_sections,
)
from gantry.health import Container, HealthPoll
from gantry.policy.host import Preflight
from gantry.release import hash_of_release_id

__all__ = ["AuditLines", "Container", "HealthPoll", "HostFacts", "LockInfo", "Preflight", "ReleaseCheck",
           "SlowStop", "container_of_inspect", "parse_audit", "parse_clock", "parse_facts", "parse_health_poll",
           "parse_image_config", "parse_image_digests", "parse_inspect", "parse_kill_events", "parse_lock",
           "parse_poll", "parse_preflight", "parse_ps", "parse_release_check", "parse_timestamp", "split_sections"]


@dataclass(frozen=True)
class HostFacts:
    current: str = ""  # release id that `current` points to, "" when none
    releases: tuple[str, ...] = ()  # kept release ids, oldest first
    lock: LockInfo | None = None
    containers: tuple[Container, ...] = ()
    locked_by_us: bool = False
    extra: dict = field(default_factory=dict)

    @property
    def current_hash(self) -> str:
        return hash_of_release_id(self.current)


def parse_ps(text: str) -> tuple[Container, ...]:
    rows: list[dict] = []
    stripped = text.strip()
    if stripped.startswith("["):
        rows = json.loads(stripped)
    else:
        rows = [json.loads(line) for line in stripped.splitlines() if line.strip().startswith("{")]
    out = [
        Container(
            name=r.get("Name", ""),
            service=r.get("Service", ""),
            state=str(r.get("State", "")).lower(),
            health=str(r.get("Health", "") or _health_of_status(r.get("Status", ""))).lower(),
            exit_code=int(r.get("ExitCode") or _exit_of_status(r.get("Status", ""))),
            id=r.get("ID", ""),
            published=_published(r),
            restarts=int(r.get("RestartCount") or 0),
            project=str(r.get("Project") or ""),
        )
        for r in rows
    ]
    return tuple(sorted(out, key=lambda c: (c.project, c.service, c.name)))


_STATUS_HEALTH = (("(healthy)", "healthy"), ("(unhealthy)", "unhealthy"), ("(health: starting)", "starting"))
_PORT_TEXT = re.compile(r"^(.*):(\d+)->\d+/tcp$")


def _health_of_status(status: str) -> str:
    """`docker ps` Status text: "Up 5 seconds (healthy)", "Up 1 second (health: starting)"."""
    return next((h for mark, h in _STATUS_HEALTH if mark in status), "")


def _exit_of_status(status: str) -> int:
    """`docker ps` Status text: "Exited (137) 2 minutes ago"."""
    found = re.match(r"Exited \((\d+)\)", status)
    return int(found.group(1)) if found else 0


def _published(row: dict) -> tuple[tuple[str, int], ...]:
    """Published TCP ports from `compose ps` (Publishers), `docker inspect` (NetworkSettings.Ports) or
    `docker ps` (Ports text: "0.0.0.0:8080->8080/tcp, :::8080->8080/tcp")."""
    found = {(str(p.get("URL", "")), int(p["PublishedPort"])) for p in row.get("Publishers") or []
             if p.get("PublishedPort") and p.get("Protocol", "tcp") == "tcp"}
    ports = row.get("Ports") or {}
    if isinstance(ports, str):
        for part in ports.split(", "):
            m = _PORT_TEXT.match(part.strip())
            if m:
                found.add((m.group(1), int(m.group(2))))
        return tuple(sorted(found))
    for key, binds in ports.items():
        if key.endswith("/tcp"):
            found |= {(str(b.get("HostIp", "")), int(b["HostPort"])) for b in binds or [] if b.get("HostPort")}
    return tuple(sorted(found))


def parse_facts(text: str) -> HostFacts:
    s = split_sections(text)
    current = "".join(s.get("current", [])).strip()
    current = current.rsplit("/", 1)[-1] if current else ""
    releases = tuple(sorted(r.strip() for r in s.get("releases", []) if r.strip() and not r.startswith(".")))
    try:
        containers = parse_ps("\n".join(s.get("ps", [])))
    except ValueError:
        containers = ()
    return HostFacts(
        current=current,
        releases=releases,
        lock=parse_lock("\n".join(s.get("lock", []))),
        containers=containers,
        locked_by_us="locked" in s,
    )


def parse_preflight(text: str) -> Preflight:
    """`docker info` as `SECURITY_OPTIONS_JSON ENGINE_VERSION [COMPOSE_VERSION]`, then `df -Pk`."""
    s = split_sections(text)
    info = " ".join(s.get("info", [])).strip()
    opts: tuple[str, ...] = ()
    version = compose = ""
    if info.startswith("["):
        end = info.find("]") + 1
        try:
            opts = tuple(json.loads(info[:end]))
        except ValueError:
            opts = ()
        rest = info[end:].split()
        version = rest[0] if rest else ""
        compose = rest[1].lstrip("v") if len(rest) > 1 else ""
    free = -1
    df = [line.split() for line in s.get("df", []) if line.strip()]
    if len(df) >= 2 and len(df[1]) >= 4 and df[1][3].isdigit():
        free = int(df[1][3])
    legacy = tuple(sorted(line.split()[0] for line in s.get("legacy", []) if line.strip()))
    return Preflight(opts, version, compose, free, legacy)




def parse_health_poll(text: str) -> tuple[Container, ...]:
    """The health poll's output: `docker inspect` JSON of every container (see commands.containers)."""
    return parse_inspect("\n".join(split_sections(text).get("ps", [])))


def parse_poll(text: str) -> HealthPoll | None:
    """A health poll with the host's clock (commands.health_poll); None when the output holds no poll."""
    sections = split_sections(text)
    if "ps" not in sections or "end" not in sections:
        return None
    return HealthPoll(parse_inspect("\n".join(sections["ps"])), parse_clock(sections.get("now", [])))


def _json_values(text: str) -> list:
    """Every JSON value in a text, in order (xargs may run `docker inspect` more than once)."""
    decoder, out, at = json.JSONDecoder(), [], 0
    while True:
        at = _next_json(text, at)
        if at < 0:
            return out
        try:
            value, at = decoder.raw_decode(text, at)
        except ValueError:
            at += 1
            continue
        out.append(value)


def _next_json(text: str, at: int) -> int:
    found = [i for i in (text.find("[", at), text.find("{", at)) if i >= 0]
    return min(found) if found else -1


def _dict(value: object) -> dict:
    return value if isinstance(value, dict) else {}


def container_of_inspect(obj: dict) -> Container:
    """One container from `docker inspect` JSON, any engine since 20.10: every field may be absent or null
    (`State.Health` is absent without a healthcheck on 20.10, and may read "none" on newer engines)."""
    state = _dict(obj.get("State"))
    health = str(_dict(state.get("Health")).get("Status") or "").lower()
    labels = _dict(_dict(obj.get("Config")).get("Labels"))
    ports = _dict(_dict(obj.get("NetworkSettings")).get("Ports"))
    status = str(state.get("Status") or "").lower()
    if not status:
        status = "restarting" if state.get("Restarting") else "running" if state.get("Running") else \
            "dead" if state.get("Dead") else "exited"
    return Container(
        name=str(obj.get("Name") or "").lstrip("/"),
        service=str(labels.get("com.docker.compose.service") or ""),
        state=status,
        health="" if health == "none" else health,
        exit_code=int(state.get("ExitCode") or 0),
        id=str(obj.get("Id") or ""),
        published=_published({"Ports": ports}),
        restarts=int(obj.get("RestartCount") or 0),
        started_at=parse_timestamp(state.get("StartedAt")),
        project=str(labels.get("com.docker.compose.project") or ""),
    )


_RFC3339 = re.compile(r"(\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d)(?:\.(\d+))?(Z|[+-]\d\d:\d\d)$")


def parse_timestamp(value: object) -> float:
    """Docker's RFC 3339 time with nanoseconds ("2026-12-01T10:16:50.123456789Z") as epoch seconds; 0.0 for
    Docker's zero time ("0001-01-01T00:00:00Z": never started) or anything else."""
    found = _RFC3339.match(str(value or ""))
    if not found or found.group(1).startswith("0001-"):
        return 0.0
    whole, frac, zone = found.groups()
    stamp = datetime.datetime.fromisoformat(whole + ("+00:00" if zone == "Z" else zone))
    return stamp.timestamp() + (float("0." + frac) if frac else 0.0)


def parse_clock(lines: list[str]) -> float | None:
    """A `date +%s.%N` section: the host's time in seconds, None when absent or unreadable (a date without %N)."""
    text = "".join(lines).strip()
    try:
        return float(text)
    except ValueError:
        return None


def parse_inspect(text: str) -> tuple[Container, ...]:
    """`docker inspect` output (one or more JSON arrays; anything else is ignored)."""
    objs: list[dict] = []
    for value in _json_values(text):
        objs += [o for o in (value if isinstance(value, list) else [value]) if isinstance(o, dict) and "Id" in o]
    return tuple(sorted((container_of_inspect(o) for o in objs), key=lambda c: (c.project, c.service, c.name)))


@dataclass(frozen=True)
class SlowStop:
    """A container that got SIGKILL after SIGTERM: it used its whole stop timeout."""

    service: str
    container: str


def parse_kill_events(lines: list[str], since: int) -> tuple[SlowStop, ...]:
    """`docker events --format '{{json .}}'` kill lines -> containers killed (signal 9) after a SIGTERM."""
    termed: set[str] = set()
    out: dict[str, SlowStop] = {}
    for line in lines:
        try:
            ev = json.loads(line)
        except ValueError:
            continue
        if not isinstance(ev, dict) or int(ev.get("time") or 0) < since:
            continue
        actor = _dict(ev.get("Actor"))
        attrs = _dict(actor.get("Attributes"))
        cid = str(actor.get("ID") or ev.get("id") or "")
        if str(attrs.get("signal")) == "15":
            termed.add(cid)
        elif str(attrs.get("signal")) == "9" and cid in termed:
            out[cid] = SlowStop(str(attrs.get("com.docker.compose.service") or ""), str(attrs.get("name") or ""))
    return tuple(sorted(out.values(), key=lambda s: (s.service, s.container)))
