"""Deploy and rollback on a swarm: the hosts Driver's lock, audit, interruption and result, on one manager.

Interim seam until the Plan runner (issue #14) lands: the Driver's steps that differ are overridden here.
One place: the first reachable manager (an unreachable one is passed over; a refused host key is not).
A deploy: lock on the manager -> stage (bundle, pinned stack file, secrets) -> `docker stack deploy` ->
wait for convergence -> `current` on the manager. When Swarm rolls a service back, Gantry re-deploys the
previous release's whole stack (every service back, not only the one Swarm returned) and exits 3.
"""

from __future__ import annotations

import time
from collections.abc import Sequence

from gantry.deploy import Driver, HostRun, RunContext
from gantry.engines.swarm.session import SwarmOps
from gantry.engines.swarm.stack import StackSettings
from gantry.engines.swarm.verdict import stack_verdict
from gantry.errors import GantryError, HostKeyError, UnreachableError
from gantry.health import Healthy, ServiceSpec
from gantry.release import Release


class SwarmDriver(Driver):
    def __init__(self, ctx: RunContext, *, action: str, lock_wait: float = 0.0) -> None:
        super().__init__(ctx, action=action, lock_wait=lock_wait)
        env = ctx.env
        self.settings = StackSettings(env.compose_project, env.swarm.routing_mesh, env.rollout.batch_size)
        self.ops: SwarmOps | None = None

    def _ops(self, run: HostRun) -> SwarmOps:
        h = self.ctx.env.health
        return SwarmOps(run.session, self.settings, h.interval, h.timeout, h.margin)

    def pick_manager(self) -> SwarmOps:
        """The first manager that answers and manages; the others are left out of this run."""
        if self.ops is not None:
            return self.ops
        passed: list[str] = []
        for run in self.runs:
            try:
                run.session.connect()
                ops = self._ops(run)
                ops.check_manager()
            except HostKeyError:
                raise
            except (UnreachableError, GantryError) as exc:
                if run is self.runs[-1]:
                    if passed:
                        exc.what += f" (also passed over: {'; '.join(passed)})"
                    raise
                passed.append(f"{run.host}: {exc.what}")
                continue
            for text in passed:
                self.ctx.warn(f"warning: manager {text}; using {run.host}")
            self.runs = [run]
            self.ops = ops
            return ops
        raise AssertionError("no managers")  # targets_for refuses an environment without any

    # -- the Driver's steps, for one manager ---------------------------------------------------------

    def observe_all(self, release: Release, specs: tuple[ServiceSpec, ...]) -> bool:
        ops = self.pick_manager()
        facts = ops.s.observe()
        if facts.lock is not None or facts.current_hash != release.content_hash:
            return False
        services = tuple(sorted(specs_names(specs)))
        if not isinstance(stack_verdict(ops.read(), ops.stack, services, float("inf")), Healthy):
            return False
        run = self.runs[0]
        run.previous = run.target = facts.current
        run.outcome, run.ended = "unchanged", time.monotonic()
        return True

    def lock_all(self, release_id: str, *, preflight=None, images: Sequence[str] = ()) -> None:
        self.pick_manager()
        super().lock_all(release_id, preflight=lambda run: False)  # the manager runs no compose project

    def _forward(self, run: HostRun, release: Release, specs: tuple[ServiceSpec, ...]) -> None:
        ops = self.pick_manager()
        run.target = release.id
        run.touched = True
        staged = ops.stage(release)
        since = ops.deploy(release.id)
        verdict = ops.wait(staged.services, since, staged.deadline, self.cancel)
        self._settle(run, verdict, ops.diagnose, lambda: ops.record(release.id, release.manifest))

    def _activate(self, run: HostRun, rid: str):
        """Re-deploy a kept release's whole stack and wait for it (a rollback is never cut short)."""
        ops = self.pick_manager()
        services, deadline = ops.kept_stack(rid)
        since = ops.deploy(rid)
        return ops.wait(services, since, deadline, None)

    def _recover(self, run: HostRun) -> None:
        """The whole stack back to the previous release; on a first deploy Swarm's own rollback is all there is."""
        if not run.touched or not run.previous or run.previous == run.target:
            run.outcome, run.ended = "failed", time.monotonic()
            return
        super()._recover(run)  # the previous release's whole stack, through _activate

    def rollback(self, to: str | None, *, dry_run: bool = False):
        self.pick_manager()
        return super().rollback(to, dry_run=dry_run)


def specs_names(specs: tuple[ServiceSpec, ...]) -> set[str]:
    return {s.name for s in specs}


def read_status(ctx: RunContext) -> dict:
    """What `inv status` shows of a swarm (read-only): the manager's release and lock, each service's
    replicas running/desired and the nodes its tasks run on, and the nodes."""
    from gantry.engines.hosts.session import lock_holder
    from gantry.engines.swarm.verdict import service_rows

    driver = SwarmDriver(ctx, action="status")
    try:
        ops = driver.pick_manager()
        facts = ops.s.observe()
        state = ops.read()
    finally:
        driver._close()
    return {"environment": ctx.env.name, "engine": "swarm", "manager": ops.s.host, "release": facts.current,
            "releases": list(facts.releases), "lock": lock_holder(facts.lock, ctx.now()) if facts.lock else "",
            "services": [{"service": r.service, "running": r.running, "desired": r.desired, "nodes": list(r.nodes),
                          "update": r.update} for r in service_rows(state, ops.stack)],
            "nodes": [{"id": n.id, "address": n.address, "role": n.role, "state": n.state,
                       "availability": n.availability} for n in state.nodes]}
