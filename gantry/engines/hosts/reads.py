"""The day-2 tasks' work on every host (status, releases, history, logs, lock release, drift, exec, shell).

One function per task: it connects to each host of the environment (in parallel, through `fan_out`), runs
the commands of commands.py, parses with facts.py/readouts.py, and returns one `HostOutcome` per host: a
plain value, or the error that stopped that host. Printing and exit codes stay with the CLI.
"""

from __future__ import annotations

import datetime
from collections.abc import Callable, Sequence
from dataclasses import dataclass

from gantry.engines.hosts import commands
from gantry.engines.hosts import drift as drift_stage
from gantry.engines.hosts.engine import targets_for
from gantry.engines.hosts.facts import HostFacts, LockInfo, parse_audit, parse_facts, split_sections
from gantry.engines.hosts.readouts import audit_part, damaged_releases, live_compose, live_files
from gantry.errors import GantryError, UsageError
from gantry.plan import services_of


@dataclass(frozen=True)
class HostOutcome:
    """What one host gave: a value, or the error that stopped it."""

    host: str
    value: object = None
    error: GantryError | None = None

    @property
    def ok(self) -> bool:
        return self.error is None


@dataclass(frozen=True)
class HostStatus:
    facts: HostFacts
    damaged: dict[str, list[str]]  # kept release -> the files it is missing
    raw: str = ""  # the whole read, for an engine's own part of it (blue/green: colours and proxy)


@dataclass(frozen=True)
class HostReleases:
    facts: HostFacts
    records: tuple[dict, ...]  # the host's audit lines, oldest first


@dataclass(frozen=True)
class HostDrift:
    facts: HostFacts
    items: tuple[drift_stage.Drift, ...]


@dataclass(frozen=True)
class CommandOutput:
    exit_code: int
    text: str  # stdout then stderr, as the host printed them (not redacted: the caller redacts)


def each_host(env, fn: Callable) -> list[HostOutcome]:
    """Open one connection per host, run fn(conn, layout), close; one outcome per host, in the hosts' order."""
    from gantry.engines import engine_for
    from gantry.remote.executor import HostConnection  # Fabric/paramiko: only tasks that connect load them
    from gantry.remote.fanout import fan_out

    targets = engine_for(env.engine, env).targets()  # the hosts, or a swarm's managers
    layout = commands.Layout(env.base_dir)

    def one(target):
        with HostConnection(target) as conn:
            return fn(conn, layout)

    results = fan_out(targets, one, env.rollout.max_parallel)
    return [HostOutcome(t.label, error=r) if isinstance(r, GantryError) else HostOutcome(t.label, r)
            for t, r in zip(targets, results)]


def status(env, extra: Callable | None = None) -> list[HostOutcome]:
    """Each host's facts and its damaged kept releases (HostStatus); `extra(layout)` reads more in the same
    round trip (an engine's own facts, kept in HostStatus.raw)."""
    def read(conn, layout) -> HostStatus:
        cmd = commands.read_status(layout, env.compose_project)
        if extra is not None:
            cmd = commands.sequence(cmd, extra(layout))
        out = conn.run(cmd, step="status", check=False).stdout
        found = parse_facts(out)
        return HostStatus(found, damaged_releases(split_sections(out).get("release-files", []), layout,
                                                  found.releases), out)

    return each_host(env, read)


def releases(env) -> list[HostOutcome]:
    """Each host's facts and audit lines (HostReleases)."""
    def read(conn, layout) -> HostReleases:
        out = conn.run(commands.read_releases(layout, env.compose_project), step="releases", check=False).stdout
        return HostReleases(parse_facts(out), parse_audit(audit_part(out)).records)

    return each_host(env, read)


def history(env) -> list[HostOutcome]:
    """Each host's audit lines, oldest first (a tuple of dicts)."""
    return each_host(env, lambda conn, layout: parse_audit(
        conn.run(commands.read_audit(layout), step="history").stdout).records)


def logs(env, lines: int, service: str | None, projects: Sequence[str] = ()) -> list[HostOutcome]:
    """Each host's last log lines of the project (or one service), stdout then stderr (a str). A service the
    host's live release does not have is an error for that host (its logs would be empty). `projects`: the
    compose projects an engine runs the release as (blue/green: base and colours), each under its name."""
    if projects:
        logs_cmd = commands.sequence(*(part for p in projects for part in (
            commands.argv("echo", f"-- {p} --"), commands.compose_logs(p, lines, service))))
    else:
        logs_cmd = commands.compose_logs(env.compose_project, lines, service)

    def read(conn, layout) -> str:
        if not service:
            out = conn.run(logs_cmd, step="logs", check=False)
            return out.stdout + out.stderr
        out = conn.run(commands.with_live_compose(layout, logs_cmd), step="logs", check=False)
        live, _, text = out.stdout.partition(f"{commands.MARK}logs\n")
        known = services_of(live_compose(split_sections(live)))
        if known and service not in known:
            raise UsageError(f"{conn.target.label}: --service", f"the live release has no service {service!r}",
                             f"its services: {', '.join(sorted(known))}")
        return text + out.stderr

    return each_host(env, read)


def release_lock(env) -> list[HostOutcome]:
    """Free each host's deploy lock; the value is the lock that was held (LockInfo) or None."""
    def free(conn, layout) -> LockInfo | None:
        held = parse_facts(conn.run(commands.facts(layout, env.compose_project), step="lock",
                                    check=False).stdout).lock
        conn.run(commands.release_lock(layout), step="unlock")
        return held

    return each_host(env, free)


def drift(env, now: datetime.datetime) -> list[HostOutcome]:
    """What runs on each host versus its `current` release (HostDrift)."""
    project = env.compose_project

    def read(conn, layout) -> HostDrift:
        out = conn.run(commands.read_live(layout, project), step="drift", check=False).stdout
        facts = parse_facts(out)
        details = ""
        if facts.current and facts.current in facts.releases:
            details = conn.run(commands.drift_details(project, layout, facts.current), step="drift",
                               check=False).stdout
        compose_text, manifest = live_files(split_sections(out))
        return HostDrift(facts, drift_stage.find_drift(facts, compose_text, manifest,
                                                       *drift_stage.parse_details(details), now=now,
                                                       lock_limit=2 * env.ssh.command_timeout))

    return each_host(env, read)


def _live_release(conn, layout, project: str, step: str) -> HostFacts:
    facts = parse_facts(conn.run(commands.facts(layout, project), step=step, check=False).stdout)
    if not facts.current:
        raise UsageError(f"{conn.target.label} [{step}]", "no release is live on this host", "deploy first")
    return facts


# Where an engine runs a service of the live release rid: (conn, layout, rid) -> (compose project, layout, rid)
Place = Callable[[object, commands.Layout, str], tuple[str, commands.Layout, str]]


def _running_service(conn, layout, env, service: str, step: str, place: Place | None
                     ) -> tuple[str, commands.Layout, str]:
    """Where the live release runs `service` on this host; a usage error naming what runs when it has no
    running container there (a service the release lacks, or one that is stopped)."""
    project = env.compose_project
    facts = _live_release(conn, layout, project, step)
    proj, where, rid = place(conn, layout, facts.current) if place else (project, layout, facts.current)
    if proj != project:
        facts = parse_facts(conn.run(commands.facts(layout, proj), step=step, check=False).stdout)
    running = sorted({x.service for x in facts.containers if x.state == "running"})
    if service not in running:
        raise UsageError(f"{conn.target.label} [{step}]", f"service {service!r} has no running container",
                         (f"running: {', '.join(running)}; " if running else "")
                         + f"`gantry status --env {env.name}` shows what runs")
    return proj, where, rid


def exec_in_service(env, service: str, cmd: Sequence[str], place: Place | None = None) -> list[HostOutcome]:
    """Run cmd in the service's container of each host's live release (CommandOutput)."""

    def run(conn, layout) -> CommandOutput:
        proj, where, rid = _running_service(conn, layout, env, service, "exec", place)
        out = conn.run(commands.exec_in_service(proj, where, rid, service, cmd), step="exec", check=False)
        return CommandOutput(out.exit_code, out.stdout + out.stderr)

    return each_host(env, run)


def shell_in_service(env, service: str, cmd: Sequence[str], out=None, place: Place | None = None) -> int:
    """An interactive command on a TTY in the service's running container of the live release on the first
    host, its output written to `out` (the caller's masking writer); returns its exit code."""
    from gantry.remote.executor import HostConnection

    target = targets_for(env)[0]
    layout = commands.Layout(env.base_dir)
    with HostConnection(target) as conn:
        proj, where, rid = _running_service(conn, layout, env, service, "shell", place)
        return conn.interactive(commands.shell_in_service(proj, where, rid, service, cmd), step="shell", out=out)
