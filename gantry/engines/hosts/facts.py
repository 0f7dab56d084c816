"""Parsers of remote output: pure functions from text to facts.

`docker compose ps --format json` (Compose v2.21+) prints one JSON object per line; older v2
releases printed one JSON array. Both are accepted.
"""

from __future__ import annotations

import datetime
import json
import re
from dataclasses import dataclass, field

from gantry.engines.hosts.commands import MARK
from gantry.health import Container, HealthPoll
from gantry.policy.host import Preflight
from gantry.release import hash_of_release_id


@dataclass(frozen=True)
class LockInfo:
    holder: str = ""
    since: str = ""
    release: str = ""
    pid: str = ""
    raw: str = ""


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


def split_sections(text: str) -> dict[str, list[str]]:
    """Split marker-delimited output into named sections of lines."""
    sections: dict[str, list[str]] = {}
    name = ""
    for line in text.splitlines():
        if line.startswith(MARK):
            name = line[len(MARK):].strip()
            sections.setdefault(name, [])
        elif name:
            sections[name].append(line)
    return sections


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
        )
        for r in rows
    ]
    return tuple(sorted(out, key=lambda c: (c.service, c.name)))


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


def parse_lock(text: str) -> LockInfo | None:
    text = text.strip()
    if not text:
        return None
    try:
        data = json.loads(text)
    except ValueError:
        return LockInfo(raw=text[:200])
    if not isinstance(data, dict):
        return LockInfo(raw=text[:200])
    return LockInfo(str(data.get("holder", "")), str(data.get("since", "")), str(data.get("release", "")),
                    str(data.get("pid", "")), text[:500])


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
    return Preflight(opts, version, compose, free)


@dataclass(frozen=True)
class AuditLines:
    records: tuple[dict, ...]
    bad_lines: int = 0


def parse_audit(text: str) -> AuditLines:
    records, bad = [], 0
    for line in text.splitlines():
        if not line.strip():
            continue
        try:
            rec = json.loads(line)
        except ValueError:
            bad += 1
            continue
        if isinstance(rec, dict):
            records.append(rec)
        else:
            bad += 1
    return AuditLines(tuple(records), bad)


def _repo_of(ref: str) -> str:
    """`host:5000/app/web:1.0@sha256:..` -> `host:5000/app/web`."""
    ref = ref.split("@", 1)[0]
    slash = ref.rfind("/")
    colon = ref.rfind(":")
    return ref[:colon] if colon > slash else ref


def parse_image_digests(lines: list[str], images: tuple[str, ...] | list[str]) -> dict[str, str]:
    """Map each image reference to `repo@sha256:...` from `docker image inspect` lines (tags, digests)."""
    out: dict[str, str] = {}
    for line in lines:
        tags_json, _, digests_json = line.strip().partition(" ")
        try:
            tags, digests = json.loads(tags_json or "[]") or [], json.loads(digests_json or "[]") or []
        except ValueError:
            continue
        for ref in images:
            if ref in tags or ref.removeprefix("docker.io/library/") in tags or ref.removeprefix("docker.io/") in tags:
                mine = [d for d in digests if _repo_of(d) in (_repo_of(ref), _repo_of(ref).removeprefix("docker.io/"),
                                                             _repo_of(ref).removeprefix("docker.io/library/"))]
                if mine:
                    out[ref] = mine[0]
    return out



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
    return tuple(sorted((container_of_inspect(o) for o in objs), key=lambda c: (c.service, c.name)))


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


@dataclass(frozen=True)
class ReleaseCheck:
    """What a kept release looks like on a host: its problems ('' each when complete) and its contents."""

    problems: tuple[str, ...]
    compose_yaml: str = ""
    manifest: dict = field(default_factory=dict)


def parse_release_check(text: str, rid: str) -> ReleaseCheck:
    """The output of commands.verify_release: every file present, hashes matching the manifest.

    The manifest records the compose file's sha256 and the content hash, which the release id ends with;
    the .env is hashed on the host, never read, and checked against `.env.sha256` (0600) beside it, since
    the content hash keys its .env part (release.combine_hashes). A release made before that file existed
    is checked against an unkeyed content hash.
    """
    from gantry.release import combine_hashes

    s = split_sections(text)
    sums: dict[str, str] = {}
    for line in s.get("sums", []):
        digest, _, path = line.strip().partition("  ")
        if len(digest) == 64:
            sums[path.rsplit("/", 1)[-1]] = digest
    problems = [f"{name} is missing" for name in ("compose.yaml", ".env") if name not in sums]
    env_digest = "".join(s.get("env-digest", [])).strip()
    manifest_text = "\n".join(s.get("manifest", [])).strip()
    manifest: dict = {}
    if not manifest_text:
        problems.append("manifest.json is missing")
    else:
        try:
            manifest = _dict(json.loads(manifest_text))
        except ValueError:
            problems.append("manifest.json is not valid JSON")
    if manifest and not problems:
        if manifest.get("compose_sha256") != sums["compose.yaml"]:
            problems.append("compose.yaml does not match the sha256 in manifest.json (altered)")
        elif env_digest and env_digest != sums[".env"]:
            problems.append(".env does not match its digest in .env.sha256 (altered)")
        elif not env_digest and combine_hashes(sums["compose.yaml"], sums[".env"]) != manifest.get("content_hash"):
            problems.append(".env does not match the content hash in manifest.json (altered)")
        elif hash_of_release_id(rid) != manifest.get("content_hash"):
            problems.append("manifest.json belongs to another release (its content hash differs from the id)")
    compose_text = "".join(f"{line}\n" for line in s.get("compose", []))
    return ReleaseCheck(tuple(problems), compose_text, manifest)


def parse_image_config(lines: list[str], images: tuple[str, ...] | list[str]) -> dict[str, dict]:
    """`docker image inspect` lines (tags, Config.User, Config.Healthcheck) -> {ref: {"Config": {...}}}."""
    out: dict[str, dict] = {}
    decoder = json.JSONDecoder()
    for line in lines:
        text = line.strip()
        try:
            tags, end = decoder.raw_decode(text)
            user, end2 = decoder.raw_decode(text, end + 1)
            health, _ = decoder.raw_decode(text, end2 + 1)
        except ValueError:
            continue
        for ref in images:
            if ref in (tags or []):
                out[ref] = {"Config": {"User": user or "", "Healthcheck": health}}
    return out
