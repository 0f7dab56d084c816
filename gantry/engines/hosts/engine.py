"""The hosts engine: one `HostSession` per host of the environment, the steps of steps.py."""

from __future__ import annotations

import threading
from collections.abc import Callable
from dataclasses import dataclass

from gantry.engines.hosts import commands, steps
from gantry.engines.hosts.session import HealthSettingsView, HostSession
from gantry.errors import UsageError
from gantry.plan import HostPlan, LiveRelease, Step
from gantry.release import Release


def targets_for(env) -> list:
    """The environment's hosts as SSH targets (strict host keys, timeouts, retries from `ssh:`)."""
    if not env.hosts:
        hint = "run `inv lab.up` first" if env.inventory else f"add hosts to {env.source}"
        raise UsageError(env.source, "no hosts to deploy to", hint)
    return ssh_targets(env, env.hosts)


def ssh_targets(env, hosts) -> list:
    """Hosts (or a swarm's managers) as SSH targets, with the environment's `ssh:` settings."""
    from gantry.remote.executor import Target  # Fabric and paramiko load when a run connects

    return [Target(h.label, h.address, h.user, h.port, h.identity_file, env.ssh.known_hosts,
                   env.ssh.connect_timeout, env.ssh.command_timeout, env.ssh.connect_retries) for h in hosts]


def shipper(env, say: Callable[[str], None]):
    """images.transfer: ssh -> the hook that sends images a host lacks (None: hosts pull from a registry)."""
    if env.images.transfer != "ssh":
        return None
    from gantry.remote.transfer import Shipper

    return Shipper(env.images.docker_host, env.source, say=say)


@dataclass(frozen=True)
class HostsEngine:
    env: object
    name: str = "hosts"

    def check_ready(self) -> None:
        targets_for(self.env)

    def targets(self) -> list:
        """Where operator tasks read the lock, releases and audit: every host."""
        return targets_for(self.env)

    def sessions(self, ctx, cancel: threading.Event) -> list[HostSession]:
        from gantry.remote.executor import HostConnection

        hs = self.env.health
        view = HealthSettingsView(hs.interval, hs.timeout, hs.settle, hs.margin)
        layout = commands.Layout(self.env.base_dir)
        return [HostSession(HostConnection(t, echo=ctx.echo), layout, self.env.compose_project, view, ctx.report,
                            ctx.redact, cancel, ship=ctx.ship_images) for t in targets_for(self.env)]

    def deploy_steps(self, hp: HostPlan, release: Release, live: LiveRelease) -> tuple[Step, ...]:
        return steps.deploy_steps(hp, release, live, ship=self.env.images.transfer == "ssh")

    def rollback_steps(self, hp: HostPlan, live: LiveRelease) -> tuple[Step, ...]:
        return steps.rollback_steps(hp, live)
