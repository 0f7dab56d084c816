"""Executes a Plan: the one runner of deploys and rollbacks, for every engine.

Order: observe every host (no lock; a plan without changes ends the run there, one read per host); take
every lock, the first host's first (an unreachable host, a refused key, a held lock or a failed preflight
stops everything before any host changes); plan again from what the hosts showed under the lock; then
the batches in parallel, each host's steps in order. A step that fails runs its undo (the host goes back
to what it ran); a failed batch stops the run and, with rollout.rollback: fleet, every host already moved
runs the undo of its last step. Ctrl-C cancels the forward waits and returns the moved hosts. Whatever
happens, each host gets its audit line and its lock back. The runner knows engines by their interface
(gantry.engines) only: what a step does is the engine's.
"""

from __future__ import annotations

import json
import threading
from collections.abc import Callable, Sequence

from gantry.engines import Engine, Work
from gantry.errors import GantryError, HostError, HostErrors, Interrupted, LockHeldError, PreflightError
from gantry.health import Failed, ServiceSpec
from gantry.plan import Plan, Step, make_plan
from gantry.release import Release, releases_to_prune
from gantry.remote.fanout import BatchInterrupted, fan_out, interrupts_held
from gantry.run.state import HostRun, Outcome, RunContext, RunResult, audit_record, iso, result_of


class Runner:
    """One deploy or rollback: the only place that decides what each host does next."""

    def __init__(self, ctx: RunContext, engine: Engine, *, action: str, lock_wait: float = 0.0) -> None:
        self.ctx = ctx
        self.engine = engine
        self.action = action
        self.lock_wait = lock_wait
        self.cancel = threading.Event()
        self.runs = [HostRun(s) for s in engine.sessions(ctx, self.cancel)]
        self.started_at = ctx.now()
        self.locked: list[HostRun] = []
        self.parallel = ctx.env.rollout.max_parallel
        self.interrupted = False
        self.release_id = ""
        self.plan: Plan | None = None
        self.work = Work()

    def close(self) -> None:
        for run in self.runs:
            try:
                run.session.close()
            except Exception:  # noqa: BLE001 - closing must never hide the real outcome
                pass

    # -- before any change ------------------------------------------------------------------------

    def fan(self, items: Sequence, fn: Callable, *, reraise: bool = True) -> list:
        """fan_out with this run's limits; a Ctrl-C cancels the forward health waits (undos go on)."""
        return fan_out(items, fn, self.parallel, reraise=reraise, on_interrupt=self.cancel.set if reraise else None)

    def on_every_host(self, fn: Callable[[HostRun], object], runs: Sequence[HostRun] | None = None
                      ) -> list[GantryError]:
        """Run one step on every host at once, before any change; Ctrl-C here changes nothing."""
        try:
            return [e for e in self.fan(self.runs if runs is None else runs, fn) if isinstance(e, GantryError)]
        except KeyboardInterrupt:
            with interrupts_held():
                self._record_interrupted()
                self.unlock_all()
                self.close()
            raise Interrupted(self.action, "interrupted before any host was changed", "") from None

    def _record_interrupted(self) -> None:
        def finish(run: HostRun) -> None:
            run.settle(Outcome.INTERRUPTED, "interrupted (Ctrl-C) before any host was changed")
            run.session.finish((), self._record(self.action, run, self.release_id))
            self.locked.remove(run)

        self.fan(self.locked[:], finish, reraise=False)

    def stop_on(self, errors: list[GantryError]) -> None:
        if errors:
            self.unlock_all()
            self.close()
            raise errors[0] if len(errors) == 1 else HostErrors(errors)

    def observe_all(self) -> None:
        """Connect and read every host (no lock, nothing written)."""
        self.stop_on(self.on_every_host(lambda run: (run.session.connect(), run.session.observe())))

    def plan_deploy(self, release: Release, specs: tuple[ServiceSpec, ...]) -> Plan:
        """The deploy plan from what the hosts showed last (the engine supplies each host's steps)."""
        live = {r.host: r.session.live(specs) for r in self.runs}
        return make_plan(release, live, [r.host for r in self.runs], self.ctx.env.rollout.batch_size,
                         steps=self.engine.deploy_steps, fleet=self.ctx.env.rollout.rollback == "fleet")

    def lock_all(self, release_id: str, *, preflight: Callable[[HostRun], bool] = lambda run: True,
                 images: Sequence[str] = ()) -> None:
        """Take every host's lock (observing it again under the lock) and judge the engines of those
        that will change; an unreachable host, a refused key, a held lock or a failed preflight stops
        the run before any host changes."""
        self.release_id = release_id
        info = json.dumps({"holder": f"{self.ctx.who}@{self.ctx.origin}", "since": iso(self.started_at),
                           "release": release_id, "action": self.action}, sort_keys=True)

        def lock(run: HostRun) -> None:
            run.session.connect()
            facts = run.session.lock(info, wait=self.lock_wait, preflight=preflight(run), images=images)
            if facts.locked_by_us:
                self.locked.append(run)
            run.previous = facts.current

        # The first host's lock first: of two deploys started at once, exactly one wins it and goes on to
        # the others, instead of each winning some hosts and both giving up.
        errors = self.on_every_host(lock, self.runs[:1])
        if self.locked or errors:
            errors += self.on_every_host(lock, self.runs[1:])
        errors += self._preflight_errors() + self._image_errors()
        busy = [r for r in self.runs if r not in self.locked
                and not any(isinstance(e, HostError) and e.host == r.host for e in errors)]
        if errors or busy:
            self.stop_on(errors)
            self.unlock_all()
            self.close()
            run = busy[0]
            holder = run.session.lock_holder(self.ctx.now())
            raise LockHeldError(run.host, "lock", f"another deploy holds the lock: {holder}",
                                "wait for it, retry with --lock-wait SECONDS, or if it is stale: "
                                f"inv lock.release --env {self.ctx.env.name}")

    def _preflight_errors(self) -> list[GantryError]:
        """The policy's host rules on each engine (confinement, versions, disk; levels and waivers as for the
        model): errors stop the run before any change; a warning that several hosts share is said once."""
        from gantry.policy import settings_for
        from gantry.policy.host import preflight_verdict

        preflights = {run.host: run.session.preflight for run in self.runs if run.session.preflight is not None}
        errors, warnings = preflight_verdict(preflights, settings_for(self.ctx.env), today=self.ctx.now().date())
        for text in warnings:
            self.ctx.warn(f"warning: {text}")
        return list(errors)

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

    # -- deploy -----------------------------------------------------------------------------------

    def deploy(self, release: Release, specs: tuple[ServiceSpec, ...]) -> RunResult:
        self.work = Work(release, specs, images_of(release))
        self.observe_all()
        first = self.plan_deploy(release, specs)
        if not first.changes and not any(r.session.facts.lock is not None for r in self.runs):
            for run in self.runs:  # the whole of a no-change deploy: one read per host, nothing written
                run.plan, run.previous = first.host(run.host), run.session.facts.current
                run.settle(Outcome.UNCHANGED)
            self.plan = first
            self.close()
            return self._result(release.id)
        changing = {h.host for h in first.hosts if h.action != "unchanged"}
        self.lock_all(release.id, preflight=lambda run: run.host in changing, images=self.work.images)
        self.plan = self.plan_deploy(release, specs)  # what the hosts showed under the lock decides
        return self.execute("deploy", release.id)

    def execute(self, event: str, label: str) -> RunResult:
        """Run self.plan (every lock held), then record each host's outcome and give the locks back."""
        for run in self.runs:
            run.plan = self.plan.host(run.host)
        try:
            try:
                self._roll_out()
            except KeyboardInterrupt:
                self.cancel.set()
                self.interrupted = True
                self._fleet_undo(why="interrupted (Ctrl-C): ")
            with interrupts_held() as arrived:
                self._finish(event, label)
                self.warn_slow_stops()
            if arrived:
                self.ctx.warn(f"note: Ctrl-C arrived after every host had reached its final release; the {event} "
                              "recorded its outcome and released the locks first (nothing was undone)")
        finally:
            self.unlock_all()
            self.close()
        return self._result(label)

    def _roll_out(self) -> None:
        by_host = {r.host: r for r in self.runs}
        batches = [[by_host[h] for h in batch] for batch in self.plan.batches]
        for n, batch in enumerate(batches):
            try:
                results = self.fan(batch, self._forward)
            except BatchInterrupted as stop:
                self._record_errors(batch, stop.results)
                raise
            self._record_errors(batch, results)
            if any(r.outcome not in (Outcome.DEPLOYED, Outcome.UNCHANGED) for r in batch):
                for later in (r for b in batches[n + 1:] for r in b):
                    later.settle(Outcome.SKIPPED)
                if self.plan.fleet:
                    self._fleet_undo()
                return

    def _forward(self, run: HostRun) -> None:
        """The host's steps in order; a Failed verdict runs the failing step's undo."""
        for step in run.plan.steps:
            run.started_step = step
            verdict = run.session.execute(step, self.work)
            if step.kind == "wait":
                run.slow += run.session.slow_stops()
            if isinstance(verdict, Failed):
                run.settle(Outcome.FAILED, verdict.reason)
                run.failing_service = verdict.service
                run.diagnostics = run.session.diagnose(verdict)
                self._undo(run)
                return
        run.settle(Outcome.DEPLOYED if run.plan.steps else Outcome.UNCHANGED)

    def _record_errors(self, batch: Sequence[HostRun], results: list) -> None:
        for run, res in zip(batch, results):
            if isinstance(res, GantryError):
                run.settle(Outcome.FAILED, res.what)
                run.failing_service = getattr(res, "service", "")  # an `up` that failed because a service did
                run.diagnostics = getattr(res, "diagnostics", "")
                self._undo(run)

    def _undo(self, run: HostRun) -> None:
        """Return one failed host to what it ran: the undo of the step it failed in."""
        undo = run.started_step.undo if run.started_step is not None else ()
        if not undo:
            return
        restores = run.plan.restores
        try:
            verdict = self._run_steps(run, undo)
            if isinstance(verdict, Failed):
                run.settle(Outcome.FAILED, add=f"; the previous release {restores} is not healthy either: "
                                               f"{verdict.reason}")
            else:
                run.settle(Outcome.ROLLED_BACK if restores else Outcome.FAILED)
        except GantryError as exc:
            run.settle(Outcome.FAILED, add=f"; rollback to {restores} failed: {exc.what}")

    def _run_steps(self, run: HostRun, steps: Sequence[Step]):
        """Run restoring steps; the first Failed verdict ends them (the host is left as it is)."""
        work = Work(self.work.release, self.work.specs, self.work.images, run.failing_service)
        for step in steps:
            verdict = run.session.execute(step, work)
            if step.kind == "wait" and not isinstance(verdict, Failed):
                run.slow += run.session.slow_stops()
            if isinstance(verdict, Failed):
                return verdict
        return None

    def _fleet_undo(self, why: str = "") -> None:
        """Every host this run moved runs the undo of its last step, so the fleet runs one version."""
        moved = [r for r in self.runs if r.outcome == Outcome.DEPLOYED and r.plan.restores and r.plan.steps]

        def back(run: HostRun) -> None:
            verdict = self._run_steps(run, run.plan.steps[-1].undo)
            if isinstance(verdict, Failed):
                raise HostError(run.host, "rollback", verdict.reason)

        self.cancel.clear()
        for run, res in zip(moved, self.fan(moved, back, reraise=False)):
            if isinstance(res, GantryError):
                run.settle(Outcome.FAILED, res.what)
            else:
                run.settle(Outcome.ROLLED_BACK, f"{why}returned with the fleet")
        if self.interrupted:
            for run in self.runs:
                if run.outcome == Outcome.PENDING:
                    run.settle(Outcome.SKIPPED)

    def _finish(self, event: str, label: str) -> None:
        ok = all(r.outcome in (Outcome.DEPLOYED, Outcome.UNCHANGED) for r in self.runs)
        keep = self.ctx.env.keep_releases

        def finish(run: HostRun) -> None:
            # Only a host that moved to a new release prunes (a deploy): then `previous` is the release it ran
            # before, kept for a rollback. A host repaired, rolled back or left as it was keeps every release.
            moved = event == "deploy" and ok and run.outcome == Outcome.DEPLOYED and run.target != run.previous
            prune = releases_to_prune(run.session.facts.releases, run.target, run.running, run.previous,
                                      keep) if moved else ()
            # The audit names the release the host runs (a repaired host keeps its live release, whose content
            # is this one), or the one it tried (failed, rolled back, skipped).
            run.session.finish(prune, self._record(event, run, run.target or label))
            if run in self.locked:
                self.locked.remove(run)

        self.fan(self.locked[:], finish, reraise=False)

    def _record(self, event: str, run: HostRun, rid: str) -> str:
        return audit_record(self.ctx, event, run, rid, self.started_at).to_json()

    def _result(self, rid: str) -> RunResult:
        return result_of(self.action, rid, self.runs, interrupted=self.interrupted, redact=self.ctx.redact,
                         plan=self.plan.to_dict() if self.plan is not None else None)

    # -- rollback (gantry/run/rollback.py) ---------------------------------------------------------

    def rollback(self, to: str | None, *, dry_run: bool = False):
        from gantry.run import rollback

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


def images_of(release: Release) -> tuple[str, ...]:
    return tuple(sorted({ref for ref in release.manifest.get("images", {}).values() if ref}))
