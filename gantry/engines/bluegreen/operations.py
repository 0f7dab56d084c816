"""What the blue/green engine does on one host, over the hosts engine's session (its connection, reporter,
health wait and release files), one method per step kind.

Each view (base, blue, green) is the hosts engine's own session over another compose project and another
release directory (`commands.view_layout`), so `up`, the health wait, digests, pins and diagnostics are the
hosts engine's code, unchanged; only the proxy and the colours are this module's.
"""

from __future__ import annotations

import dataclasses
import time
from collections.abc import Mapping
from dataclasses import dataclass, field

import tenacity
import yaml

from gantry.engines.bluegreen import commands, documents
from gantry.engines.bluegreen.facts import BlueGreenFacts, parse_bluegreen
from gantry.engines.bluegreen.settings import Route
from gantry.engines.hosts.session import HostSession
from gantry.errors import HostError
from gantry.health import Failed, ServiceSpec, Verdict, service_specs


@dataclass(frozen=True)
class ProxySettings:
    """What every host of an environment shares: the routes, the proxy's image, the drain."""

    routes: tuple[Route, ...]
    image: str

    @property
    def services(self) -> frozenset[str]:
        return frozenset(r.service for r in self.routes)

    @property
    def drain(self) -> float:
        return max([r.drain for r in self.routes] + [0.0])


def split(compose_yaml: str, proxy: ProxySettings, project: str, rid: str) -> dict[str, str]:
    """A release's compose text as the three views' documents."""
    model = yaml.safe_load(compose_yaml) or {}
    docs = {"base": documents.render(documents.base_document(model, proxy.routes))}
    for colour in documents.COLOURS:
        docs[colour] = documents.render(documents.colour_document(model, proxy.routes, project, colour, rid))
    return docs


def split_specs(specs: tuple[ServiceSpec, ...], proxy: ProxySettings) -> tuple[tuple[ServiceSpec, ...],
                                                                               tuple[ServiceSpec, ...]]:
    """(base specs, colour specs) of a release."""
    return (tuple(s for s in specs if s.name not in proxy.services),
            tuple(s for s in specs if s.name in proxy.services))


@dataclass
class Colours:
    """One host's blue/green operations, over its hosts-engine session."""

    inner: HostSession
    proxy: ProxySettings
    bg: BlueGreenFacts = field(default_factory=BlueGreenFacts)

    @property
    def project(self) -> str:
        return self.inner.project

    @property
    def proxy_layout(self) -> commands.ProxyLayout:
        return commands.ProxyLayout(self.inner.layout)

    def view(self, name: str) -> HostSession:
        """The hosts engine's session on one view: same connection, reporter, timings and phase."""
        project = self.project if name == "base" else documents.colour_project(self.project, name)
        return dataclasses.replace(self.inner, layout=commands.view_layout(self.inner.layout, name),
                                   project=project)

    def observe(self) -> BlueGreenFacts:
        out = self.inner.conn.run(commands.facts(self.project, self.proxy_layout), step="facts", check=False)
        self.bg = parse_bluegreen(out.stdout)
        return self.bg

    def write_views(self, rid: str, compose_yaml: str) -> None:
        docs = split(compose_yaml, self.proxy, self.project, rid)
        self.inner.step("views", lambda: self.inner.conn.run(commands.write_views(self.inner.layout, rid, docs),
                                                             step="views"))

    def bring_up(self, view: str, rid: str, specs: tuple[ServiceSpec, ...], images: tuple[str, ...] = (),
                 pins: Mapping[str, str] | None = None) -> dict[str, str]:
        session = self.view(view)
        session.bring_up(rid, images=images, pins=pins, specs=specs)
        self._first_poll = session.first_poll
        return session.resolved

    def wait(self, view: str, specs: tuple[ServiceSpec, ...]) -> Verdict:
        session = self.view(view)
        session.first_poll = getattr(self, "_first_poll", None)
        self._first_poll = None
        return session.wait(specs)

    def ensure_proxy(self) -> None:
        layout = self.proxy_layout
        compose_text = documents.render(documents.proxy_document(self.project, self.proxy.image, layout.config_dir,
                                                                 self.proxy.routes))
        initial = documents.render_json(documents.caddy_config(self.proxy.routes, self.bg.live.colour))
        cmd = commands.ensure_proxy(self.project, layout, compose_text, initial)
        self.inner.step("proxy", lambda: self.inner.conn.run(cmd, step="proxy"))

    def switch(self, rid: str, colour: str, manifest: Mapping | None = None,
               resolved: Mapping[str, str] | None = None) -> None:
        """Point the proxy at `colour` (through Caddy's admin API, retried while the proxy starts), then make
        `rid` current as the hosts engine does."""
        config = documents.render_json(documents.caddy_config(self.proxy.routes, colour))
        cmd = commands.switch_proxy(self.project, self.proxy_layout, config, documents.render_state(colour, rid))

        def run() -> None:
            retrying = tenacity.Retrying(stop=tenacity.stop_after_attempt(10), wait=tenacity.wait_fixed(0.3),
                                         retry=tenacity.retry_if_result(lambda out: not out.ok),
                                         retry_error_callback=lambda state: state.outcome.result())
            out = retrying(lambda: self.inner.conn.run(cmd, step="proxy switch", check=False))
            if not out.ok:
                raise HostError(self.inner.host, "proxy switch", f"the proxy refused the switch to {colour}: "
                                f"{(out.stderr or out.stdout).strip()[-300:]}",
                                "see `docker compose -p " f"{documents.proxy_project(self.project)} logs`")

        self.inner.step("proxy switch", run, detail=f"-> {colour}")
        self.bg = dataclasses.replace(self.bg, live=documents.LiveState(colour, rid))
        if resolved:
            self.inner.resolved = dict(resolved)
        self.inner.switch(rid, manifest)

    def drain(self) -> None:
        """Let the old colour finish its in-flight requests (cut short by an interrupt)."""
        seconds = self.proxy.drain
        if seconds > 0:
            self.inner.step("drain", lambda: self.inner.cancel.wait(seconds) and None, detail=f"{seconds:g}s")

    def retire(self, colour: str, rid: str) -> None:
        """Stop the old colour; its containers stay, so a rollback only starts them."""
        if not self.bg.colour(colour).containers:
            return
        self.view(colour).stop_services(rid, ())

    def remove(self, colour: str) -> None:
        """Remove a failed colour's containers (its volumes stay)."""
        self.inner.step("remove", lambda: self.inner.conn.run(commands.colour_remove(self.project, colour, 10),
                                                              step="remove", check=False), detail=colour)

    def specs_of(self, rid: str) -> tuple[ServiceSpec, ...]:
        check = self.inner.checked.get(rid) or self.inner.verify(rid)
        return service_specs(yaml.safe_load(check.compose_yaml) or {})


def failed(verdict: Verdict) -> bool:
    return isinstance(verdict, Failed)


def seconds_since(t0: float) -> float:
    return time.monotonic() - t0
