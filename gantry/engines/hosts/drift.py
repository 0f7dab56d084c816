"""What runs on a host versus its `current` release (pure): `gantry drift` reads, this decides.

Drift is: `current` pointing at a release that is not there; a service of the release with no running
container; a container of the project that the release does not have; a container whose compose
config hash label differs from the release's (`docker compose config --hash`); a container whose image
is not the digest the deploy recorded (`resolved_images` in the manifest); a lock older than a deploy
can take. Containers are keyed on compose project + service: another project's `web` is never this one's.
"""

from __future__ import annotations

import datetime
import json
from collections.abc import Mapping
from dataclasses import dataclass

from gantry.engines.hosts.facts import HostFacts, split_sections
from gantry.health import MixedProjects, by_service, completion_jobs
from gantry.plan import services_of

CONFIG_HASH = "com.docker.compose.config-hash"
SERVICE = "com.docker.compose.service"
PROJECT = "com.docker.compose.project"
ONEOFF = "com.docker.compose.oneoff"


@dataclass(frozen=True)
class Drift:
    kind: str  # current-missing | no-release | missing | not-running | extra | config | image | stale-lock | mixed
    service: str
    detail: str


@dataclass(frozen=True)
class Running:
    name: str
    service: str
    image_id: str
    config_hash: str
    project: str = ""


def parse_details(text: str) -> tuple[dict[str, str], tuple[Running, ...], dict[str, tuple[str, ...]]]:
    """`commands.drift_details` output -> (service -> config hash, containers, image id -> repo digests)."""
    s = split_sections(text)
    hashes = dict(line.split(None, 1) for line in s.get("config-hash", []) if len(line.split(None, 1)) == 2)
    hashes = {k: v.strip() for k, v in hashes.items()}
    running = []
    for line in s.get("containers", []):
        try:
            name, image, labels = (json.loads(part) for part in line.split(" ", 2))
        except ValueError:
            continue
        labels = labels or {}
        if labels.get(ONEOFF) == "True":
            continue
        running.append(Running(name.lstrip("/"), labels.get(SERVICE, ""), image, labels.get(CONFIG_HASH, ""),
                               labels.get(PROJECT, "")))
    images = {}
    for line in s.get("images", []):
        try:
            image_id, digests = (json.loads(part) for part in line.split(" ", 1))
        except ValueError:
            continue
        images[image_id] = tuple(digests or ())
    return hashes, tuple(running), images


def find_drift(facts: HostFacts, compose_yaml: str, manifest: Mapping, hashes: Mapping[str, str],
               running: tuple[Running, ...], images: Mapping[str, tuple[str, ...]], *, now: datetime.datetime,
               lock_limit: float, project: str | None = None) -> tuple[Drift, ...]:
    """Every drift of one host; only the containers of compose project `project` (None: the one project the
    containers belong to) are judged."""
    out: list[Drift] = []
    out += _lock_drift(facts, now, lock_limit)
    if facts.current and facts.current not in facts.releases:
        return (*out, Drift("current-missing", "", f"current points at {facts.current}, which is not in releases/"))
    if not facts.current:
        if facts.containers:
            out.append(Drift("no-release", "", f"{len(facts.containers)} container(s) run, but no release is current"))
        return tuple(out)
    services = services_of(compose_yaml)  # as Gantry wrote it, read back with the reader that wrote it
    try:
        groups = by_service(running, project)
    except MixedProjects as exc:
        return (*out, Drift("mixed", "", str(exc)))
    state = {c.name: c.state for c in facts.containers}
    exit_codes = {c.name: c.exit_code for c in facts.containers}
    # A one-shot job (a migration others wait for) that exited 0 has done its work. Only those: a service
    # without a restart policy that stopped is drift, whatever the health wait makes of its exit.
    one_shot = completion_jobs(services)
    resolved = manifest.get("resolved_images") or {}
    for name in sorted(services):
        mine = groups.get(name, [])
        if not mine:
            out.append(Drift("missing", name, "no container"))
        for r in mine:
            done = name in one_shot and state.get(r.name) == "exited" and exit_codes.get(r.name) == 0
            if state.get(r.name, "running") != "running" and not done:
                out.append(Drift("not-running", name, f"container {r.name} is {state.get(r.name)}"))
            if hashes.get(name) and r.config_hash and r.config_hash != hashes[name]:
                out.append(Drift("config", name, f"container {r.name} was created from another config "
                                 f"(hash {r.config_hash[:12]}, the release's is {hashes[name][:12]})"))
            want = resolved.get(str((services[name] or {}).get("image", "")), "")
            if want and want not in images.get(r.image_id, ()):
                out.append(Drift("image", name, f"container {r.name} runs {r.image_id[:19]}, the deploy recorded "
                                 f"{want}"))
    ours = {id(r) for mine in groups.values() for r in mine}
    for r in running:
        if id(r) in ours and r.service not in services:
            out.append(Drift("extra", r.service, f"container {r.name} is not in release {facts.current}"))
    return tuple(out)


def _lock_drift(facts: HostFacts, now: datetime.datetime, limit: float) -> list[Drift]:
    if facts.lock is None:
        return []
    try:
        since = datetime.datetime.fromisoformat(facts.lock.since.replace("Z", "+00:00"))
    except ValueError:
        return [Drift("stale-lock", "", f"a lock is held with no readable start time ({facts.lock.raw[:80]})")]
    if since.tzinfo is None:
        since = since.replace(tzinfo=datetime.timezone.utc)
    age = (now - since).total_seconds()
    if age <= limit:
        return []
    return [Drift("stale-lock", "", f"lock held by {facts.lock.holder or '?'} since {facts.lock.since} "
                  f"({age / 60:.0f} min, longer than a deploy can take); free it with `gantry lock.release`")]
