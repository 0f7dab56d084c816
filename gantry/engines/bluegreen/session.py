"""One blue/green host during one run: the hosts engine's session, plus the colours and the proxy.

Everything that is not colour- or proxy-specific is the hosts engine's (connection, lock, audit, upload,
verify, `current`, diagnostics). The base project and each colour are *views* (commands.view_layout): the
hosts engine's own session over another compose project and release directory, so `up`, pins, digests and
the health wait are its code, unchanged.
"""

from __future__ import annotations

import dataclasses
import time
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

import tenacity

from gantry import yamlio
from gantry.engines.bluegreen import commands, documents
from gantry.engines.bluegreen.facts import BlueGreenFacts, parse_bluegreen
from gantry.engines.bluegreen.settings import Route
from gantry.engines.bluegreen.steps import BlueGreenLive
from gantry.engines.hosts.session import HostSession
from gantry.errors import HostError
from gantry.health import Healthy, ServiceSpec, Verdict, settled_verdict
from gantry.plan import Step

if TYPE_CHECKING:
    from gantry.engines import Work


@dataclass(frozen=True)
class ProxySettings:
    """What every host of an environment shares: the routes and the proxy's image."""

    routes: tuple[Route, ...]
    image: str

    @property
    def services(self) -> frozenset[str]:
        return frozenset(r.service for r in self.routes)

    @property
    def drain(self) -> float:
        return max([r.drain for r in self.routes] + [0.0])

    def split(self, specs: tuple[ServiceSpec, ...]) -> tuple[tuple[ServiceSpec, ...], tuple[ServiceSpec, ...]]:
        """(base specs, colour specs) of a release."""
        return (tuple(s for s in specs if s.name not in self.services),
                tuple(s for s in specs if s.name in self.services))


def _model(compose_yaml: str) -> dict:
    return yamlio.load_document(compose_yaml, "compose.yaml").data or {}


def split_release(compose_yaml: str, proxy: ProxySettings, project: str, rid: str) -> dict[str, str]:
    """A release's compose text as the three views' documents."""
    model = _model(compose_yaml)
    docs = {"base": documents.render(documents.base_document(model, proxy.routes))}
    for colour in documents.COLOURS:
        docs[colour] = documents.render(documents.colour_document(model, proxy.routes, project, colour, rid))
    return docs


@dataclass
class BlueGreenSession(HostSession):
    proxy: ProxySettings = field(default_factory=lambda: ProxySettings((), ""))
    bg: BlueGreenFacts = field(default_factory=BlueGreenFacts)
    views: dict[str, HostSession] = field(default_factory=dict)
    first_polls: dict[str, object] = field(default_factory=dict)

    # -- observe -----------------------------------------------------------------------------------

    def observe(self):
        facts = super().observe()
        self.observe_colours()
        return facts

    def lock(self, info_json: str, **kwargs):
        facts = super().lock(info_json, **kwargs)
        self.observe_colours()
        return facts

    def observe_colours(self) -> BlueGreenFacts:
        out = self.conn.run(commands.facts(self.project, commands.ProxyLayout(self.layout)), step="facts",
                            check=False)
        self.bg = parse_bluegreen(out.stdout)
        return self.bg

    def live(self, specs: tuple[ServiceSpec, ...]) -> BlueGreenLive:
        """As the hosts engine sees it, judged on the base project and the live colour, with the colours."""
        plain = super().live(self.proxy.split(specs)[0])
        colour = self.bg.live.colour
        idle = self.bg.colour(documents.other(colour)) if colour else None
        why = plain.not_healthy
        if plain.id and not why:
            live_colour = self.bg.colour(colour) if colour else None
            if live_colour is None or self.bg.live.release != plain.id:
                why = "the proxy does not point at the live release"
            else:
                seen = settled_verdict(live_colour.containers, self.proxy.split(specs)[1])
                why = "" if isinstance(seen, Healthy) else getattr(seen, "reason", "not healthy")
        return BlueGreenLive(plain.id, plain.compose_yaml, plain.manifest_json, why, plain.releases, colour,
                             idle.releases[0] if idle is not None and idle.running and len(idle.releases) == 1
                             else "")

    # -- views ------------------------------------------------------------------------------------

    def view(self, name: str) -> HostSession:
        """The hosts engine's session on one view: same connection, reporter, timings and phase."""
        if name not in self.views:
            project = self.project if name == "base" else documents.colour_project(self.project, name)
            # its own `checked`: a pinned `up` pins the view's document, never the whole release's
            self.views[name] = HostSession(self.conn, commands.view_layout(self.layout, name), project, self.health,
                                           self.report, self.redact, self.cancel, timings=self.timings,
                                           spans=self.spans)
        session = self.views[name]
        session.phase = self.phase
        return session

    def write_views(self, rid: str, compose_yaml: str | None = None) -> None:
        """Write a release's views; for a kept release, also what its views' pinned `up` reads."""
        check = None if compose_yaml is not None else (self.checked.get(rid) or self.verify(rid))
        docs = split_release(check.compose_yaml if check else compose_yaml, self.proxy, self.project, rid)
        self.step("views", lambda: self.conn.run(commands.write_views(self.layout, rid, docs), step="views"))
        if check is not None:
            for name, text in docs.items():
                self.view(name).checked[rid] = dataclasses.replace(check, compose_yaml=text)

    # -- the plan's steps ---------------------------------------------------------------------------

    def execute(self, step: Step, work: Work) -> Verdict | None:
        self.phase = "rollback" if step.restoring else ""
        kind, _, colour = step.kind.partition("-")
        view = colour or "base"
        rid = step.release
        if step.pinned:
            all_specs, pins = self.read_release(rid)
        else:
            all_specs, pins = work.specs, None
        base_specs, colour_specs = self.proxy.split(all_specs)
        specs = colour_specs if colour else base_specs
        if kind == "upload":
            super().execute(step, work)
            self.write_views(rid, work.release.compose_yaml)
        elif kind == "up":
            if step.pinned and (not colour or rid not in self.view(view).checked):
                self.write_views(rid)  # a kept release: its views may predate this engine's settings
            session = self.view(view)
            images = () if step.pinned else self.images_of(work, bool(colour))
            session.bring_up(rid, images=images, pins=pins, specs=specs)
            self.first_polls[view] = session.first_poll
            self.resolved = {**({} if not colour else self.resolved), **session.resolved}
        elif kind == "wait":
            session = self.view(view)
            session.first_poll = self.first_polls.pop(view, None)
            return session.wait(specs)
        elif kind == "proxy":
            self.ensure_proxy()
        elif kind == "switch":
            forward = work.release is not None and rid == work.release.id and not step.restoring
            self.switch_proxy(rid, colour)
            self.switch(rid, work.release.manifest if forward else None)
        elif kind == "drain":
            self.drain(restoring=step.restoring)
        elif kind == "retire":
            if self.bg.colour(colour).containers:
                self.view(colour).stop_services(rid, ())
        elif kind == "remove":
            self.step("remove", lambda: self.conn.run(commands.colour_remove(self.project, colour, 10),
                                                      step="remove", check=False), detail=colour)
        elif kind == "stop":
            self.view("base").stop_services(rid, (work.failing,) if step.failing_only and work.failing else ())
        else:
            raise HostError(self.host, step.kind, f"the bluegreen engine has no step {step.kind!r}")
        return None

    def images_of(self, work: Work, proxied: bool) -> tuple[str, ...]:
        """The image references of the base project's services (or of the proxied ones)."""
        services = _model(work.release.compose_yaml).get("services") or {}
        return tuple(sorted({str(svc["image"]) for name, svc in services.items()
                             if svc.get("image") and (name in self.proxy.services) == proxied}))

    def ensure_proxy(self) -> None:
        layout = commands.ProxyLayout(self.layout)
        compose_text = documents.render(documents.proxy_document(self.project, self.proxy.image, layout.config_dir,
                                                                 self.proxy.routes, migrate=self.bg.migrate))
        initial = documents.render_json(documents.caddy_config(self.proxy.routes, self.bg.live.colour))
        cmd = commands.ensure_proxy(self.project, layout, compose_text, initial)
        note = "" if self.bg.migrate else (f"the kernel has no {documents.MIGRATE_SYSCTL} (Linux < 5.14): a "
                                           "connection queued at the moment of a switch can be reset")
        self.step("proxy", lambda: self.conn.run(cmd, step="proxy"), detail=note)

    def switch_proxy(self, rid: str, colour: str) -> None:
        """Point the proxy at `colour` through Caddy's admin API (retried while a new proxy starts)."""
        config = documents.render_json(documents.caddy_config(self.proxy.routes, colour))
        cmd = commands.switch_proxy(self.project, commands.ProxyLayout(self.layout), config,
                                    documents.render_state(colour, rid))

        def run() -> None:
            retrying = tenacity.Retrying(stop=tenacity.stop_after_attempt(10), wait=tenacity.wait_fixed(0.3),
                                         retry=tenacity.retry_if_result(lambda out: not out.ok),
                                         retry_error_callback=lambda state: state.outcome.result())
            out = retrying(lambda: self.conn.run(cmd, step="proxy switch", check=False))
            if not out.ok:
                raise HostError(self.host, "proxy switch", f"the proxy refused the switch to {colour}: "
                                f"{self.redact((out.stderr or out.stdout).strip()[-300:])}",
                                f"see `docker compose -p {documents.proxy_project(self.project)} logs`")

        self.step("proxy switch", run, detail=f"-> {colour}")
        self.bg = BlueGreenFacts(documents.LiveState(colour, rid), self.bg.colours, self.bg.proxy)

    def drain(self, *, restoring: bool) -> None:
        """Let the old colour finish its in-flight requests (a Ctrl-C cuts it short, except in an undo)."""
        seconds = self.proxy.drain
        if seconds > 0:
            pause = (lambda: time.sleep(seconds)) if restoring else (lambda: self.cancel.wait(seconds))
            self.step("drain", lambda: pause() and None, detail=f"{seconds:g}s")

    def finish(self, prune: tuple[str, ...], audit_json: str) -> None:
        if prune:
            self.conn.run(commands.remove_views(self.layout, prune), step="finish", check=False)
        super().finish(prune, audit_json)
