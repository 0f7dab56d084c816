"""The swarm engine: one `SwarmSession` (the first reachable manager), the hosts engine's steps."""

from __future__ import annotations

import threading
from dataclasses import dataclass

import yaml

from gantry.engines.hosts import commands, steps
from gantry.engines.hosts.engine import ssh_targets
from gantry.engines.hosts.session import HealthSettingsView
from gantry.engines.swarm.session import SwarmSession
from gantry.engines.swarm.stack import StackSettings, make_stack
from gantry.errors import ProblemList, UsageError
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

    @property
    def settings(self) -> StackSettings:
        env = self.env
        return StackSettings(env.compose_project, env.swarm.routing_mesh, env.rollout.batch_size)

    def check_ready(self) -> None:
        manager_targets(self.env)

    def targets(self) -> list:
        """Where operator tasks read the lock, releases and audit: the managers."""
        return manager_targets(self.env)

    def sessions(self, ctx, cancel: threading.Event) -> list[SwarmSession]:
        from gantry.remote.executor import HostConnection

        env, hs = self.env, self.env.health
        conns = [HostConnection(t, echo=ctx.echo) for t in manager_targets(env)]
        return [SwarmSession(conns[0], commands.Layout(env.base_dir), env.compose_project,
                             HealthSettingsView(hs.interval, hs.timeout, hs.settle, hs.margin), ctx.report,
                             ctx.redact, cancel, settings=self.settings, others=conns[1:], warn=ctx.warn)]

    def deploy_steps(self, hp: HostPlan, release: Release, live: LiveRelease) -> tuple[Step, ...]:
        """The hosts engine's steps, once the release is known to make a stack (secrets used as Swarm can
        hold them): refused here, before any lock, with exit 1."""
        _, problems = make_stack(yaml.safe_load(release.compose_yaml) or {}, release.manifest.get("secrets", {}),
                                 {}, self.settings)
        if problems:
            raise ProblemList(problems)
        return steps.deploy_steps(hp, release, live)

    def rollback_steps(self, hp: HostPlan, live: LiveRelease) -> tuple[Step, ...]:
        return steps.rollback_steps(hp, live)
