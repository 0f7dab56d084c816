"""The swarm engine: one `SwarmSession` (the first reachable manager), the hosts engine's steps."""

from __future__ import annotations

import threading
from dataclasses import dataclass

from gantry.engines.hosts import commands, steps
from gantry.engines.hosts.engine import ssh_targets
from gantry.engines.hosts.session import HealthSettingsView
from gantry.engines.swarm.session import SwarmSession
from gantry.engines.swarm.stack import StackSettings
from gantry.errors import UsageError
from gantry.plan import HostPlan, LiveRelease, Step
from gantry.release import Release


def manager_targets(env) -> list:
    """The environment's managers as SSH targets (strict host keys, timeouts, retries from `ssh:`)."""
    if not env.managers:
        hint = "run `inv lab.swarm` first" if env.inventory else f"add managers to {env.source}"
        raise UsageError(env.source, "no swarm managers to deploy through", hint)
    return ssh_targets(env, env.managers)


@dataclass(frozen=True)
class SwarmEngine:
    env: object
    name: str = "swarm"

    def check_ready(self) -> None:
        manager_targets(self.env)

    def sessions(self, ctx, cancel: threading.Event) -> list[SwarmSession]:
        from gantry.remote.executor import HostConnection

        env, hs = self.env, self.env.health
        conns = [HostConnection(t, echo=ctx.echo) for t in manager_targets(env)]
        settings = StackSettings(env.compose_project, env.swarm.routing_mesh, env.rollout.batch_size)
        return [SwarmSession(conns[0], commands.Layout(env.base_dir), env.compose_project,
                             HealthSettingsView(hs.interval, hs.timeout, hs.settle, hs.margin), ctx.report,
                             ctx.redact, cancel, settings=settings, others=conns[1:], warn=ctx.warn)]

    def deploy_steps(self, hp: HostPlan, release: Release, live: LiveRelease) -> tuple[Step, ...]:
        return steps.deploy_steps(hp, release, live)

    def rollback_steps(self, hp: HostPlan, live: LiveRelease) -> tuple[Step, ...]:
        return steps.rollback_steps(hp, live)
