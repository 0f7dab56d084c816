"""Health: a pure verdict over `docker compose ps` rows, and a tenacity loop that retries Pending only.

A service with a healthcheck must be `healthy`; one without must be running, unrestarted, for the
settle period. A one-shot service (restart "no" or on-failure) is done when it exits 0. An exit,
a restart or `unhealthy` fails at once: the wait never sits out its deadline on a known failure.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from typing import Protocol, TypeVar

import tenacity

from gantry import units


@dataclass(frozen=True)
class Container:
    """One container as the engine reports it (read by engines/hosts/facts from `ps` and `inspect` output)."""

    name: str
    service: str
    state: str  # created | running | restarting | exited | dead | paused | removing
    health: str = ""  # "" (no healthcheck) | starting | healthy | unhealthy
    exit_code: int = 0
    id: str = ""
    published: tuple[tuple[str, int], ...] = ()  # (host ip, host port) of each published TCP port
    restarts: int = 0  # Docker's RestartCount: a container recreated by `up` starts at 0
    started_at: float = 0.0  # State.StartedAt in epoch seconds on the host's clock; 0.0 when unknown
    project: str = ""  # its compose project (label com.docker.compose.project): a service is keyed on both


@dataclass(frozen=True)
class HealthPoll:
    """One health poll: every container, and the host's clock read just before them (None when unreadable)."""

    containers: tuple[Container, ...] = ()
    host_now: float | None = None


@dataclass(frozen=True)
class Healthy:
    detail: str = ""


@dataclass(frozen=True)
class Pending:
    reason: str
    starting: bool = False  # a container is being created or its healthcheck has not answered yet
    wake: float | None = None  # seconds until the earliest settle period ends (poll right then)


@dataclass(frozen=True)
class Failed:
    reason: str
    service: str = ""
    container: str = ""


Verdict = Healthy | Pending | Failed


@dataclass(frozen=True)
class ServiceSpec:
    """What the wait needs to know of one service, read from the compose model."""

    name: str
    has_healthcheck: bool = False
    one_shot: bool = False
    budget: float = 0.0  # seconds its healthcheck may take to turn healthy
    replicas: int = 1


def parse_duration(value: object, default: float) -> float:
    """A Go duration ("1m30s", "500ms") or a number of seconds; `default` when unset or unreadable."""
    if value is None or value == "":
        return default
    if isinstance(value, (int, float)):
        return float(value)
    nanos = units.parse_duration(str(value))
    return nanos / 1e9 if nanos is not None else default


class _OfService(Protocol):
    @property
    def project(self) -> str: ...
    @property
    def service(self) -> str: ...


Item = TypeVar("Item", bound=_OfService)


class MixedProjects(ValueError):
    """Containers of several compose projects where the caller named none: grouping them by service would mix."""


def by_service(items: Iterable[Item], project: str | None = None) -> dict[str, list[Item]]:
    """The containers of ONE compose project, by service: `project`'s, or with None the only project among them.

    A service is keyed on compose project + service (labels com.docker.compose.project/.service): two projects,
    or two colours of one, may both run a `web`. Containers of another project are left out; with None and
    several projects present, MixedProjects is raised rather than a guess."""
    items = list(items)
    if project is None:
        projects = sorted({i.project for i in items})
        if len(projects) > 1:
            raise MixedProjects(f"containers of {len(projects)} compose projects ({', '.join(projects)}) in one "
                                "reading: which one is this release's was not said")
        project = projects[0] if projects else ""
    out: dict[str, list[Item]] = {}
    for i in items:
        if i.project == project:
            out.setdefault(i.service, []).append(i)
    return out


def settled_verdict(containers: tuple[Container, ...], specs: tuple[ServiceSpec, ...],
                    project: str | None = None) -> Verdict:
    """The verdict on containers that have had all the time they need (a live release, read once): what a
    deploy uses to call a host unchanged, and a plan to call it a repair."""
    return verdict(containers, specs, {c.id or c.name: 0.0 for c in containers}, 1e9, 0.0, project)


def completion_jobs(services: Mapping) -> set[str]:
    """Services another waits for with `condition: service_completed_successfully`: one-shot jobs."""
    return {dep for svc in services.values() for dep, how in _depends_on(svc).items()
            if (how or {}).get("condition") == "service_completed_successfully"}


def service_specs(model: Mapping) -> tuple[ServiceSpec, ...]:
    """Read each service's health budget from its own healthcheck (Docker's defaults otherwise).

    A service that another waits for with `condition: service_completed_successfully` is a one-shot job,
    whatever its restart policy (Compose spec, depends_on long syntax).
    """
    specs = []
    services = model.get("services") or {}
    jobs = completion_jobs(services)
    for name, svc in sorted(services.items()):
        hc = svc.get("healthcheck") or {}
        test = hc.get("test") or []
        has = bool(hc) and not hc.get("disable") and test not in (["NONE"], "NONE") and bool(test)
        interval = parse_duration(hc.get("interval"), 30.0)
        timeout = parse_duration(hc.get("timeout"), 30.0)
        retries = int(hc.get("retries") or 3)
        start = parse_duration(hc.get("start_period"), 0.0)
        restart = str(svc.get("restart") or "no")
        policy = ((svc.get("deploy") or {}).get("restart_policy") or {}).get("condition", "")
        one_shot = name in jobs or (restart in ("no", "") or restart.startswith("on-failure")) and policy in (
            "", "none", "on-failure")
        replicas = (svc.get("deploy") or {}).get("replicas")
        specs.append(ServiceSpec(
            name, has, one_shot, start + (interval + timeout) * (retries + 1) if has else 0.0,
            1 if replicas is None else int(replicas)))
    return tuple(specs)


def _depends_on(svc: Mapping) -> dict:
    deps = svc.get("depends_on") or {}
    return {d: {} for d in deps} if isinstance(deps, list) else dict(deps)


def deadline_for(specs: tuple[ServiceSpec, ...], settle: float, margin: float) -> float:
    return max([s.budget for s in specs] + [settle]) + margin


FAST_POLL = 0.2  # seconds between polls while something is starting, backing off to the interval


@dataclass
class Observer:
    """When each container began running, to apply the settle period.

    With the host's clock in the poll, that is the container's own StartedAt (so the settle overlaps `up`
    and the other services' waits); without it, the local time the container was first seen running."""

    running_since: dict[str, float] = field(default_factory=dict)

    def see(self, containers: tuple[Container, ...], now: float) -> None:
        for c in containers:
            key = c.id or c.name
            if c.state == "running":
                self.running_since.setdefault(key, now)
            else:
                self.running_since.pop(key, None)

    def judge(self, poll: HealthPoll | tuple[Container, ...], specs: tuple[ServiceSpec, ...], local_now: float,
              settle: float, project: str | None = None) -> Verdict:
        if not isinstance(poll, HealthPoll):
            poll = HealthPoll(tuple(poll))
        self.see(poll.containers, local_now)
        running = [c for c in poll.containers if c.state == "running"]
        if poll.host_now is not None and all(c.started_at for c in running):
            since = {c.id or c.name: c.started_at for c in running}
            return verdict(poll.containers, specs, since, poll.host_now, settle, project)
        return verdict(poll.containers, specs, self.running_since, local_now, settle, project)


def next_poll(pending: Pending, interval: float, attempt: int, fast: float = FAST_POLL) -> float:
    """Seconds to the next poll: fast while something is starting, backing off by half each poll to the
    interval; a settle period that ends sooner is polled the moment it ends."""
    wait = min(interval, fast * 1.5 ** max(0, attempt - 1)) if pending.starting else interval
    if pending.wake is not None:
        wait = min(wait, max(0.02, pending.wake))
    return wait


def verdict(containers: tuple[Container, ...], specs: tuple[ServiceSpec, ...],
            running_since: Mapping[str, float], now: float, settle: float, project: str | None = None) -> Verdict:
    """Healthy when every service is; Failed at the first known failure; Pending otherwise.

    Only the containers of `project` count (with None: of the one project the poll holds; see by_service)."""
    try:
        groups = by_service(containers, project)
    except MixedProjects as exc:
        return Failed(str(exc))
    waiting = []
    for spec in specs:
        mine = groups.get(spec.name, [])
        if spec.replicas == 0:
            continue
        if not mine:
            waiting.append(Pending(f"{spec.name}: no container yet", starting=True))
            continue
        for c in mine:
            v = _container_verdict(c, spec, running_since.get(c.id or c.name), now, settle)
            if isinstance(v, Failed):
                return v
            if isinstance(v, Pending):
                waiting.append(v)
        if len(mine) < spec.replicas:  # every replica is judged: one not yet created is not healthy
            waiting.append(Pending(f"{spec.name}: {len(mine)} of {spec.replicas} replicas", starting=True))
    if not waiting:
        return Healthy()
    wakes = [p.wake for p in waiting if p.wake is not None]
    return Pending("; ".join(p.reason for p in waiting), any(p.starting for p in waiting),
                   min(wakes) if wakes else None)


def _container_verdict(c: Container, spec: ServiceSpec, since: float | None, now: float,
                       settle: float) -> Verdict:
    if c.state == "restarting":
        return Failed(f"container {c.name} is restarting (it crashed)", spec.name, c.name)
    if c.restarts > 0:
        return Failed(f"container {c.name} restarted {c.restarts} time(s) (it crashed)", spec.name, c.name)
    if c.state in ("exited", "dead"):
        if c.exit_code == 0 and spec.one_shot:
            return Healthy(f"{c.name} completed")
        return Failed(f"container {c.name} exited with code {c.exit_code}", spec.name, c.name)
    if c.health == "unhealthy":
        return Failed(f"container {c.name} is unhealthy", spec.name, c.name)
    if c.state != "running":
        return Pending(f"{c.name} is {c.state or 'starting'}", starting=True)
    if spec.has_healthcheck or c.health:
        return Healthy() if c.health == "healthy" else Pending(f"{c.name} health is {c.health or 'starting'}",
                                                               starting=True)
    if since is None:
        return Pending(f"{c.name} settling ({settle:.0f} s without a restart)", starting=True)
    if now - since < settle:
        return Pending(f"{c.name} settling ({settle:.0f} s without a restart)", wake=settle - (now - since))
    return Healthy()


def wait_healthy(poll: Callable[[], HealthPoll | tuple[Container, ...]], specs: tuple[ServiceSpec, ...], *,
                 interval: float, deadline: float, settle: float, first: HealthPoll | None = None,
                 cancel: threading.Event | None = None, clock: Callable[[], float] = time.monotonic,
                 project: str | None = None) -> Verdict:
    """Poll until Healthy or Failed; Pending past the deadline becomes Failed.

    `first` is a poll already made (in the `up` round trip): the first verdict comes from it. Polls come
    fast while something is starting and at `interval` otherwise (see next_poll)."""
    observer = Observer()
    given = [first] if first is not None else []

    def attempt() -> Verdict:
        return observer.judge(given.pop() if given else poll(), specs, clock(), settle, project)

    def wait(state: tenacity.RetryCallState) -> float:
        return next_poll(state.outcome.result(), interval, state.attempt_number)

    stop = tenacity.stop_after_delay(deadline)
    if cancel is not None:
        stop = stop | tenacity.stop_when_event_set(cancel)
    result = tenacity.Retrying(
        retry=tenacity.retry_if_result(lambda v: isinstance(v, Pending)),
        stop=stop,
        wait=wait,
        retry_error_callback=lambda state: state.outcome.result(),
    )(attempt)
    if isinstance(result, Pending):
        why = "interrupted" if cancel is not None and cancel.is_set() else f"not healthy after {deadline:.0f} s"
        return Failed(f"{why}: {result.reason}")
    return result
