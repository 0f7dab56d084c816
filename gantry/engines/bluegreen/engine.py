"""The blue/green engine: the hosts engine's hosts and connections, blue/green sessions and steps."""

from __future__ import annotations

import threading
from dataclasses import dataclass

from gantry.engines.bluegreen import steps
from gantry.engines.bluegreen.session import BlueGreenSession, ProxySettings
from gantry.engines.bluegreen.settings import routes
from gantry.engines.hosts import commands
from gantry.engines.hosts.engine import HostsEngine, targets_for
from gantry.engines.hosts.session import HealthSettingsView
from gantry.errors import UsageError
from gantry.plan import HostPlan, LiveRelease, Step
from gantry.release import Release


@dataclass(frozen=True)
class BlueGreenEngine(HostsEngine):
    name: str = "bluegreen"

    def check_ready(self) -> None:
        super().check_ready()
        if not self.env.proxy:
            raise UsageError(self.env.source, "engine: bluegreen needs at least one service under proxy:",
                             "e.g. proxy: {web: {port: 8080, publish: 80}}")

    def sessions(self, ctx, cancel: threading.Event) -> list[BlueGreenSession]:
        from gantry.remote.executor import HostConnection

        hs = self.env.health
        view = HealthSettingsView(hs.interval, hs.timeout, hs.settle, hs.margin)
        layout = commands.Layout(self.env.base_dir)
        proxy = ProxySettings(routes(self.env), self.env.proxy_image)
        return [BlueGreenSession(HostConnection(t, echo=ctx.echo), layout, self.env.compose_project, view,
                                 ctx.report, ctx.redact, cancel, ship=ctx.ship_images, proxy=proxy)
                for t in targets_for(self.env)]

    def deploy_steps(self, hp: HostPlan, release: Release, live: LiveRelease) -> tuple[Step, ...]:
        return steps.deploy_steps(hp, release, live)

    def rollback_steps(self, hp: HostPlan, live: LiveRelease) -> tuple[Step, ...]:
        return steps.rollback_steps(hp, live)
