"""Runs deploys and rollbacks across hosts: lock all, roll forward in batches, roll back on failure.

Order of a deploy: connect + observe + lock every host first (an unreachable host, an unknown key
or a held lock stops everything before any host changes); then batches in parallel: upload, pull,
up, health wait, switch `current`. A host that fails its health wait goes back to its previous
release at once; a failed batch stops the deploy and (rollback: fleet) returns every host this
deploy touched. Whatever happens, each host gets its audit line and its lock back.
"""

from __future__ import annotations

import datetime
import json
import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from gantry.audit import AuditRecord
from gantry.config import Environment
from gantry.engines.hosts import commands
from gantry.engines.hosts.session import HealthSettingsView, HostSession, StepReport, UpFailed, lock_holder
from gantry.errors import (
    DeployFailed,
    GantryError,
    HostError,
    Interrupted,
    LockHeldError,
    PreflightError,
    UsageError,
)
from gantry.health import Failed, Healthy, ServiceSpec
from gantry.policy.host import check_host
from gantry.release import Release, releases_to_prune
from gantry.remote.fanout import BatchInterrupted, fan_out, interrupts_held

if TYPE_CHECKING:  # gantry.remote.executor loads Fabric and paramiko: imported when a deploy connects, not before
    from gantry.remote.executor import Target


@dataclass
class HostRun:
    """One host's state through a run (mutable: the driver fills it in)."""

    session: HostSession
    previous: str = ""
    target: str = ""
    outcome: str = "pending"
    error: str = ""
    failing_service: str = ""
    diagnostics: str = ""
    touched: bool = False
    slow: tuple = ()  # facts.SlowStop of containers that ignored SIGTERM while this run replaced them
    started: float = field(default_factory=time.monotonic)
    ended: float = 0.0

    @property
    def host(self) -> str:
        return self.session.host

    def summary(self) -> dict:
        return {
            "host": self.host,
            "outcome": self.outcome,
            "release": self.running,
            "previous": self.previous,
            "error": self.error,
            "failing_service": self.failing_service,
            "slow_stops": sorted({stop.service for stop in self.slow}),
            "seconds": round((self.ended or time.monotonic()) - self.started, 2),
            "steps": {k: round(v, 3) for k, v in self.session.timings.items()},
            "timeline": [{"step": name, "start": round(a - self.started, 3), "end": round(b - self.started, 3)}
                         for name, a, b in sorted(self.session.spans, key=lambda span: span[1])],
        }

    @property
    def running(self) -> str:
        return self.target if self.outcome in ("deployed", "unchanged", "rolled-back-to") else self.previous


@dataclass(frozen=True)
class RunResult:
    action: str
    release: str
    outcome: str  # ok | unchanged | failed | interrupted
    hosts: tuple[dict, ...]
    exit_code: int

    def to_dict(self) -> dict:
        return {"action": self.action, "release": self.release, "outcome": self.outcome,
                "exit_code": self.exit_code, "hosts": list(self.hosts)}


@dataclass(frozen=True)
class RunContext:
    env: Environment
    who: str
    origin: str
    git_commit: str
    report: StepReport
    redact: Callable[[str], str]
    echo: Callable[[str, str], None] | None = None
    warn: Callable[[str], None] = lambda text: None
    # Judges the images' own USER/HEALTHCHECK (read on the hosts) with the policy: (errors, warnings).
    judge_images: Callable[[dict], tuple[list[str], list[str]]] | None = None
    now: Callable[[], datetime.datetime] = lambda: datetime.datetime.now(datetime.timezone.utc)
    # images.transfer: ssh: sends the images a host lacks before `up` (gantry.remote.transfer.Shipper).
    ship_images: Callable[[object, Sequence[str]], list[str]] | None = None


def targets_for(env: Environment) -> list[Target]:
    from gantry.remote.executor import Target

    if not env.hosts:
        hint = "run `inv lab.up` first" if env.inventory else f"add hosts to {env.source}"
        raise UsageError(env.source, "no hosts to deploy to", hint)
    return [Target(h.label, h.address, h.user, h.port, h.identity_file, env.ssh.known_hosts,
                   env.ssh.connect_timeout, env.ssh.command_timeout, env.ssh.connect_retries) for h in env.hosts]


def open_sessions(ctx: RunContext, cancel: threading.Event) -> list[HostSession]:
    from gantry.remote.executor import HostConnection

    env = ctx.env
    hs = env.health
    view = HealthSettingsView(hs.interval, hs.timeout, hs.settle, hs.margin)
    layout = commands.Layout(env.base_dir)
    return [HostSession(HostConnection(t, echo=ctx.echo), layout, env.compose_project, view, ctx.report,
                        ctx.redact, cancel) for t in targets_for(env)]


def _iso(ts: datetime.datetime) -> str:
    return ts.astimezone(datetime.timezone.utc).isoformat(timespec="seconds")


class Driver:
    """Runs one deploy or rollback; the only place that decides what each host does next."""

    def __init__(self, ctx: RunContext, *, action: str, lock_wait: float = 0.0) -> None:
        self.ctx = ctx
        self.action = action
        self.lock_wait = lock_wait
        self.cancel = threading.Event()
        self.runs = [HostRun(s) for s in open_sessions(ctx, self.cancel)]
        self.started_at = ctx.now()
        self.locked: list[HostRun] = []
        self.parallel = ctx.env.rollout.max_parallel
        self.interrupted = False
        self.release_id = ""

    def _close(self) -> None:
        from gantry.remote.executor import close_all

        close_all(r.session.conn for r in self.runs)

    # -- phase 1: everyone reachable, observed and locked, or nothing changes -----------------------

    def _fan(self, items: Sequence, fn: Callable, *, reraise: bool = True) -> list:
        """fan_out with this run's limits; a Ctrl-C cancels the forward health waits (rollbacks go on)."""
        return fan_out(items, fn, self.parallel, reraise=reraise, on_interrupt=self.cancel.set if reraise else None)

    def _on_every_host(self, fn: Callable[[HostRun], None], runs: Sequence[HostRun] | None = None
                       ) -> list[GantryError]:
        """Run one step on every host at once, before any change; Ctrl-C here changes nothing."""
        try:
            return [e for e in self._fan(self.runs if runs is None else runs, fn) if isinstance(e, GantryError)]
        except KeyboardInterrupt:
            with interrupts_held():
                self._record_interrupted()
                self.unlock_all()
                self._close()
            raise Interrupted(self.action, "interrupted before any host was changed", "") from None

    def _record_interrupted(self) -> None:
        """Each host whose lock we hold gets an audit line for a run stopped before any change, and its lock back."""

        def finish(run: HostRun) -> None:
            run.outcome, run.error = "interrupted", "interrupted (Ctrl-C) before any host was changed"
            run.session.finish(None, (), self._record(self.action, run, self.release_id).to_json())
            self.locked.remove(run)

        self._fan(self.locked[:], finish, reraise=False)

    def _stop_on(self, errors: list[GantryError]) -> None:
        if errors:
            self.unlock_all()
            self._close()
            raise errors[0] if len(errors) == 1 else _many(errors)

    def observe_all(self, release: Release, specs: tuple[ServiceSpec, ...]) -> bool:
        """Connect and read every host (no lock): True when each one already runs this release, healthy.

        That is the whole of a no-change deploy: one round trip per host, nothing written anywhere.
        """

        def observe(run: HostRun) -> None:
            run.session.connect()
            run.session.observe()

        self._stop_on(self._on_every_host(observe))
        for run in self.runs:
            facts = run.session.facts
            if facts.lock is not None or facts.current_hash != release.content_hash \
                    or not _all_healthy(facts, specs):
                return False
        for run in self.runs:
            run.previous = run.target = run.session.facts.current
            run.outcome, run.ended = "unchanged", time.monotonic()
        return True

    def lock_all(self, release_id: str, *, preflight: Callable[[HostRun], bool] = lambda run: True,
                 images: Sequence[str] = ()) -> None:
        """Take every host's lock (observing it again under the lock) and judge the engines of those
        that will change; an unreachable host, a refused key, a held lock or a failed preflight
        stops the run before any host changes."""
        self.release_id = release_id
        info = json.dumps({"holder": f"{self.ctx.who}@{self.ctx.origin}", "since": _iso(self.started_at),
                           "release": release_id, "action": self.action}, sort_keys=True)

        def lock(run: HostRun) -> None:
            run.session.connect()
            facts = run.session.lock(info, wait=self.lock_wait, preflight=preflight(run), images=images)
            if facts.locked_by_us:
                self.locked.append(run)
            run.previous = facts.current

        # The first host's lock first: of two deploys started at once, exactly one wins it and goes on to
        # the others, instead of each winning some hosts and both giving up.
        errors = self._on_every_host(lock, self.runs[:1])
        if self.locked or errors:
            errors += self._on_every_host(lock, self.runs[1:])
        errors += self._preflight_errors() + self._image_errors()
        busy = [r for r in self.runs if r not in self.locked
                and not any(isinstance(e, HostError) and e.host == r.host for e in errors)]
        if errors or busy:
            self.unlock_all()
            self._close()
            if errors:
                raise errors[0] if len(errors) == 1 else _many(errors)
            run = busy[0]
            holder = lock_holder(run.session.facts.lock, self.ctx.now())
            raise LockHeldError(run.host, "lock", f"another deploy holds the lock: {holder}",
                                "wait for it, retry with --lock-wait SECONDS, or if it is stale: "
                                f"inv lock.release --env {self.ctx.env.name}")

    def _preflight_errors(self) -> list[GantryError]:
        """Judge each host's engine (confinement, versions, disk): errors stop the run before any change.

        Warnings that several hosts share are said once, naming the hosts.
        """
        out: list[GantryError] = []
        warned: dict[tuple[str, str, str], list[str]] = {}
        for run in self.runs:
            if run.session.preflight is None:
                continue
            for f in check_host(run.host, run.session.preflight, self.ctx.env.policy.level,
                                overrides=self.ctx.env.policy.rules):
                if f.severity == "error":
                    out.append(PreflightError(run.host, "preflight", f"{f.rule}: {f.message}", f.fix))
                else:
                    warned.setdefault((f.rule, f.message, f.fix), []).append(run.host)
        for (rule, message, fix), hosts in warned.items():
            self.ctx.warn(f"warning: {', '.join(hosts)}: {rule}: {message}\n  hint: {fix}")
        return out

    def _image_errors(self) -> list[GantryError]:
        """The policy's verdict on the images' own USER and HEALTHCHECK, as found on the hosts."""
        facts: dict[str, dict] = {}
        for run in self.runs:
            facts.update(run.session.image_facts)
        if not facts or self.ctx.judge_images is None:
            return []
        errors, warnings = self.ctx.judge_images(facts)
        for text in warnings:
            self.ctx.warn(f"warning: {text}")
        return [PreflightError("images", "policy", text, f"fix the image or add a waiver in {self.ctx.env.source}")
                for text in errors]

    def unlock_all(self) -> None:
        """Give back every lock still held; a host we cannot reach keeps its lock, and we say so."""
        for run in list(self.locked):
            try:
                run.session.unlock()
                self.locked.remove(run)
            except GantryError as exc:
                self.ctx.warn(f"warning: {run.host}: the deploy lock is still held ({exc.what}); when the host is "
                              f"back: inv lock.release --env {self.ctx.env.name}")

    # -- deploy ---------------------------------------------------------------------------------

    def deploy(self, release: Release, specs: tuple[ServiceSpec, ...]) -> RunResult:
        if self.observe_all(release, specs):
            self._close()
            return self._result(release.id)
        self.lock_all(release.id, preflight=lambda run: not _unchanged(run.session.facts, release, specs),
                      images=_images(release))
        try:
            try:
                self._roll_out(release, specs)
            except KeyboardInterrupt:
                self.cancel.set()
                self._fleet_rollback(interrupted=True)
            with interrupts_held() as arrived:
                self._finish(release)
                self.warn_slow_stops()
            if arrived:
                self.ctx.warn("note: Ctrl-C arrived after every host had reached its final release; the deploy "
                              "recorded its outcome and released the locks first (nothing was undone)")
        finally:
            self.unlock_all()
            self._close()
        return self._result(release.id)

    def _roll_out(self, release: Release, specs: tuple[ServiceSpec, ...]) -> None:
        size = self.ctx.env.rollout.batch_size or len(self.runs)
        batches = [self.runs[i:i + size] for i in range(0, len(self.runs), size)]
        for n, batch in enumerate(batches):
            try:
                results = self._fan(batch, lambda r: self._forward(r, release, specs))
            except BatchInterrupted as stop:
                self._record_errors(batch, stop.results)
                raise
            self._record_errors(batch, results)
            if any(r.outcome != "deployed" and r.outcome != "unchanged" for r in batch):
                for later in (r for b in batches[n + 1:] for r in b):
                    later.outcome = "skipped"
                if self.ctx.env.rollout.rollback == "fleet":
                    self._fleet_rollback()
                return

    def _record_errors(self, batch: Sequence[HostRun], results: list) -> None:
        for run, res in zip(batch, results):
            if isinstance(res, GantryError):
                run.outcome, run.error = "failed", res.what
                if isinstance(res, UpFailed):
                    run.failing_service, run.diagnostics = res.service, res.diagnostics
                self._recover(run)

    def _forward(self, run: HostRun, release: Release, specs: tuple[ServiceSpec, ...]) -> None:
        s = run.session
        facts = s.facts
        if facts.current_hash == release.content_hash:
            run.target = facts.current
            if _all_healthy(facts, specs):
                run.outcome, run.ended = "unchanged", time.monotonic()
                return
        else:
            run.target = release.id
            s.upload(release)
        run.touched = True
        if self.ctx.ship_images:
            ship = self.ctx.ship_images
            s.step("ship", lambda: ship(s.conn, _images(release)))
        s.bring_up(run.target, images=_images(release), specs=specs)
        verdict = s.wait(specs)
        run.slow += s.slow_stops()
        if isinstance(verdict, Failed):
            run.outcome, run.error, run.failing_service = "failed", verdict.reason, verdict.service
            run.diagnostics = s.diagnose(verdict)
            self._recover(run)
            return
        if run.target != run.previous:
            s.switch(run.target, release.manifest)
        run.outcome, run.ended = "deployed", time.monotonic()

    def _recover(self, run: HostRun) -> None:
        """Return one failed host to its previous release (or stop the new one on a first deploy)."""
        s = run.session
        if not run.touched:
            return
        if not run.previous or run.previous == run.target:
            if run.target:
                services = (run.failing_service,) if run.failing_service else ()
                s.stop_services(run.target, services)
            run.outcome, run.ended = "failed", time.monotonic()
            return
        try:
            s.phase = "rollback"
            verdict = self._activate(run, run.previous)
            run.outcome = "rolled-back" if not isinstance(verdict, Failed) else "failed"
            if isinstance(verdict, Failed):
                run.error += f"; the previous release {run.previous} is not healthy either: {verdict.reason}"
        except GantryError as exc:
            run.outcome = "failed"
            run.error += f"; rollback to {run.previous} failed: {exc.what}"
        run.ended = time.monotonic()

    def _activate(self, run: HostRun, rid: str):
        """Bring a kept release back up with its recorded image digests, then wait for health."""
        specs, pins = run.session.read_release(rid)
        run.session.bring_up(rid, pins=pins, specs=specs)
        verdict = run.session.wait(specs)
        if not isinstance(verdict, Failed):
            run.slow += run.session.slow_stops()
        return verdict

    def _fleet_rollback(self, interrupted: bool = False) -> None:
        """Return every host this deploy moved to the new release, so the fleet runs one version."""
        moved = [r for r in self.runs if r.outcome == "deployed" and r.previous and r.target != r.previous]

        def back(run: HostRun) -> None:
            s = run.session
            s.phase = "rollback"
            verdict = self._activate(run, run.previous)
            if isinstance(verdict, Failed):
                raise HostError(run.host, "rollback", verdict.reason)
            s.switch(run.previous)

        self.cancel.clear()
        for run, res in zip(moved, self._fan(moved, back, reraise=False)):
            run.outcome = "failed" if isinstance(res, GantryError) else "rolled-back"
            why = "interrupted (Ctrl-C): " if interrupted else ""
            run.error = res.what if isinstance(res, GantryError) else f"{why}returned with the fleet"
        if interrupted:
            self.interrupted = True
            for run in self.runs:
                if run.outcome == "pending":
                    run.outcome = "skipped"

    def _finish(self, release: Release) -> None:
        ok = all(r.outcome in ("deployed", "unchanged") for r in self.runs)
        keep = self.ctx.env.keep_releases

        def finish(run: HostRun) -> None:
            # Only a host that moved to a new release prunes: then `previous` is the release it ran before,
            # kept for a rollback. A host repaired or left as it was keeps every release it has.
            moved = ok and run.outcome == "deployed" and run.target != run.previous
            prune = releases_to_prune(run.session.facts.releases, run.target, run.running, run.previous,
                                      keep) if moved else ()
            # The audit names the release the host runs (a repaired host keeps its live release, whose
            # content is this one), or the one it tried (failed, rolled back, skipped).
            record = self._record("deploy", run, run.target or release.id)
            run.session.finish(None, prune, record.to_json())
            if run in self.locked:
                self.locked.remove(run)

        self._fan(self.locked[:], finish, reraise=False)

    def _record(self, event: str, run: HostRun, rid: str) -> AuditRecord:
        env = self.ctx.env
        return AuditRecord(
            event=event, environment=env.name, project=env.project, release=rid, previous=run.previous,
            outcome=run.outcome, who=self.ctx.who, origin=self.ctx.origin, git_commit=self.ctx.git_commit,
            started=_iso(self.started_at), ended=_iso(self.ctx.now()), failing_service=run.failing_service,
            detail=self.ctx.redact(run.error)[:500])

    def _result(self, rid: str) -> RunResult:
        outcomes = {r.outcome for r in self.runs}
        if self.interrupted:
            outcome, code = "interrupted", Interrupted.exit_code
        elif outcomes <= {"unchanged"}:
            outcome, code = "unchanged", 0
            live = {r.target for r in self.runs}
            rid = live.pop() if len(live) == 1 else rid  # the hosts keep the release they run
        elif outcomes <= {"deployed", "unchanged"}:
            outcome, code = "ok", 0
            live = {r.target for r in self.runs}
            rid = live.pop() if len(live) == 1 else rid  # e.g. a repair: every host on its live release
        else:
            outcome, code = "failed", DeployFailed.exit_code
        redact = self.ctx.redact
        hosts = tuple(r.summary() | {"error": redact(r.error), "diagnostics": redact(r.diagnostics)} for r in self.runs)
        return RunResult(self.action, rid, outcome, hosts, code)

    # -- rollback (see gantry/rollback.py) --------------------------------------------------------

    def rollback(self, to: str | None, *, dry_run: bool = False):
        from gantry import rollback

        return rollback.dry_run(self, to) if dry_run else rollback.run(self, to)

    def warn_slow_stops(self) -> None:
        """Say once per service which ones sat out their stop timeout (SIGKILL after SIGTERM), and the fix."""
        hosts: dict[str, list[str]] = {}
        for run in self.runs:
            for service in sorted({stop.service for stop in run.slow}):
                hosts.setdefault(service, []).append(run.host)
        for service, where in hosts.items():
            self.ctx.warn(f"warning: {', '.join(where)}: service {service} took its full stop timeout and was "
                          "killed (SIGKILL): its main process ignores SIGTERM, so every deploy waits for it\n"
                          f"  hint: add `init: true` to service {service} (an init process passes SIGTERM on), "
                          "or set `stop_signal:` to a signal its process handles")


def _images(release: Release) -> tuple[str, ...]:
    return tuple(sorted({ref for ref in release.manifest.get("images", {}).values() if ref}))


def _unchanged(facts, release: Release, specs: tuple[ServiceSpec, ...]) -> bool:
    return facts.current_hash == release.content_hash and _all_healthy(facts, specs)


def _all_healthy(facts, specs: tuple[ServiceSpec, ...]) -> bool:
    from gantry.health import settled_verdict

    return isinstance(settled_verdict(facts.containers, specs), Healthy)


def _many(errors: list[GantryError]) -> GantryError:
    first = errors[0]
    text = "\n".join(str(e) for e in errors)
    err = type(first)(first.where, f"{len(errors)} hosts failed before any change:\n{text}", first.hint) \
        if not isinstance(first, HostError) else HostError(first.host, first.step, text)
    err.exit_code = first.exit_code
    return err
