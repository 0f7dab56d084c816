"""What Gantry does on one host, step by step, over one reused connection.

Each method is one round trip (or a health-wait loop of them) and reports its duration to the
reporter. Secret values never enter a command: the bundle travels as a tar on stdin.
"""

from __future__ import annotations

import datetime
import threading
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from gantry import yamlio
from gantry.engines.hosts import commands
from gantry.engines.hosts.facts import (
    HealthPoll,
    HostFacts,
    Preflight,
    ReleaseCheck,
    SlowStop,
    parse_clock,
    parse_facts,
    parse_image_config,
    parse_image_digests,
    parse_kill_events,
    parse_poll,
    parse_preflight,
    parse_release_check,
    split_sections,
)
from gantry.engines.hosts.readouts import live_compose
from gantry.engines.hosts.readouts import parse_health_log as _health_log
from gantry.engines.hosts.support import UpFailed, bundle_tar, lock_holder
from gantry.engines.hosts.support import retry_transient as _retry_transient
from gantry.errors import HostError
from gantry.health import (
    Failed,
    Healthy,
    ServiceSpec,
    Verdict,
    deadline_for,
    service_specs,
    settled_verdict,
    verdict,
    wait_healthy,
)
from gantry.plan import LiveRelease, Step
from gantry.release import Release, render_manifest

if TYPE_CHECKING:  # Fabric and paramiko load with the first connection, not with this module
    from gantry.engines import Work
    from gantry.remote.executor import HostConnection

StepReport = Callable[[str, str, str, float, str], None]  # host, step, status(start|ok|fail), secs, detail


@dataclass(frozen=True)
class HealthSettingsView:
    interval: float
    timeout: float
    settle: float
    margin: float


@dataclass
class HostSession:
    """One host during one run: its connection, layout, facts and step timings."""

    conn: HostConnection
    layout: commands.Layout
    project: str
    health: HealthSettingsView
    report: StepReport
    redact: Callable[[str], str]
    cancel: threading.Event
    facts: HostFacts = field(default_factory=HostFacts)
    preflight: Preflight | None = None
    resolved: dict[str, str] = field(default_factory=dict)
    image_facts: dict[str, dict] = field(default_factory=dict)
    checked: dict[str, ReleaseCheck] = field(default_factory=dict)  # verified kept releases, by id
    up_since: int = 0  # host time (epoch seconds) when the last `up` began
    first_poll: HealthPoll | None = None  # the health poll that ended the last `up` round trip
    timings: dict[str, float] = field(default_factory=dict)
    # (step, start, end) in time.monotonic() seconds: every step and the polls that matter, for the timeline
    spans: list[tuple[str, float, float]] = field(default_factory=list)
    # images.transfer: ssh: sends the images this host lacks (gantry.remote.transfer.Shipper), else None
    ship: Callable[[object, Sequence[str]], list[str]] | None = None
    live_compose: str = ""  # the live release's compose.yaml and manifest, as last observed
    live_manifest: str = ""

    @property
    def host(self) -> str:
        return self.conn.target.label

    phase: str = ""  # set by execute() from the step: "rollback" while a step restores an earlier release

    def _label(self, name: str) -> str:
        return f"{self.phase}:{name}" if self.phase else name

    def step(self, name: str, fn: Callable[[], object], detail: str = "") -> object:
        label = self._label(name)
        self.report(self.host, label, "start", 0.0, detail)
        t0 = time.monotonic()
        try:
            value = fn()
        except HostError as exc:
            took = time.monotonic() - t0
            self.timings[label] = self.timings.get(label, 0.0) + took
            self.spans.append((label, t0, t0 + took))
            self.report(self.host, label, "fail", took, self.redact(exc.what))
            raise
        took = time.monotonic() - t0
        self.timings[label] = self.timings.get(label, 0.0) + took
        self.spans.append((label, t0, t0 + took))
        failed = isinstance(value, Failed)
        self.report(self.host, label, "fail" if failed else "ok", took,
                    self.redact(value.reason) if failed else detail)
        return value

    # -- observe -------------------------------------------------------------------------------

    def connect(self) -> None:
        if not self.conn.is_open:
            self.step("connect", self.conn.open)

    def observe(self) -> HostFacts:
        def run() -> HostFacts:
            out = self.conn.run(commands.read_live(self.layout, self.project), step="facts", check=False)
            self._keep_live(out.stdout)
            return parse_facts(out.stdout)

        self.facts = self.step("facts", run)
        return self.facts

    def lock(self, info_json: str, *, wait: float = 0.0, preflight: bool = True,
             images: Sequence[str] = ()) -> HostFacts:
        """Observe and take the lock in one round trip; wait up to `wait` seconds for a held lock."""
        deadline = time.monotonic() + wait
        cmd = commands.facts_and_lock(self.layout, self.project, info_json, preflight=preflight, images=images)

        def run() -> HostFacts:
            while True:
                out = self.conn.run(cmd, step="lock", check=False)
                self._keep_live(out.stdout)
                facts = parse_facts(out.stdout)
                if f"{commands.MARK}preflight-end" in out.stdout:
                    self.preflight = parse_preflight(out.stdout)
                    self.image_facts = parse_image_config(split_sections(out.stdout).get("image-config", []),
                                                          images)
                if facts.locked_by_us or time.monotonic() >= deadline or self.cancel.is_set():
                    return facts
                time.sleep(min(2.0, max(0.1, deadline - time.monotonic())))

        self.facts = self.step("lock", run)
        return self.facts

    def _keep_live(self, text: str) -> None:
        sections = split_sections(text)
        self.live_compose = live_compose(sections)
        self.live_manifest = "\n".join(sections.get("live-manifest", []))

    def live(self, specs: tuple[ServiceSpec, ...]) -> LiveRelease:
        """What the host runs, for the plan, as last observed; judged healthy the way a deploy judges it."""
        seen = settled_verdict(self.facts.containers, specs, self.project)
        return LiveRelease(self.facts.current, self.live_compose if self.facts.current else "",
                           self.live_manifest if self.facts.current else "",
                           "" if isinstance(seen, Healthy) else getattr(seen, "reason", "not healthy"),
                           self.facts.releases)

    def unlock(self) -> None:
        self.conn.run(commands.release_lock(self.layout), step="unlock")

    def close(self) -> None:
        self.conn.close()

    def lock_holder(self, now: datetime.datetime) -> str:
        return lock_holder(self.facts.lock, now)

    # -- the plan's steps --------------------------------------------------------------------------

    def execute(self, step: Step, work: Work) -> Verdict | None:
        """Do one step of the plan (see gantry/engines/hosts/steps.py): a Failed verdict, or raise HostError."""
        self.phase = "rollback" if step.restoring else ""
        rid = step.release
        if step.kind == "upload":
            self.upload(work.release)
        elif step.kind == "ship":
            ship = self.ship
            self.step("ship", lambda: ship(self.conn, work.images))
        elif step.kind == "up":
            if step.pinned:
                specs, pins = self.read_release(rid)
                self.bring_up(rid, pins=pins, specs=specs)
            else:
                self.bring_up(rid, images=work.images, specs=work.specs)
        elif step.kind == "wait":
            specs = self.read_release(rid)[0] if step.pinned else work.specs
            return self.wait(specs)
        elif step.kind == "switch":
            forward = work.release is not None and rid == work.release.id and not step.restoring
            self.switch(rid, work.release.manifest if forward else None)
        elif step.kind == "stop":
            self.stop_services(rid, (work.failing,) if step.failing_only and work.failing else ())
        else:
            raise HostError(self.host, step.kind, f"the hosts engine has no step {step.kind!r}")
        return None

    # -- change ----------------------------------------------------------------------------------

    def upload(self, release: Release) -> None:
        if release.id in self.facts.releases:
            return
        self.step("upload", lambda: self.conn.run(commands.receive_bundle(self.layout, release.id),
                                                  step="upload", stdin=bundle_tar(release)))

    def bring_up(self, rid: str, *, images: Sequence[str] = (), pins: Mapping[str, str] | None = None,
                 specs: tuple[ServiceSpec, ...] = ()) -> None:
        """Pin images to recorded digests (rollback); pull what is missing, `up -d` and resolve digests,
        in one round trip, retried on transient registry errors only."""
        if pins:  # the host's pinned copy of the release (its images as digests); the release's files stay as they are
            def pin() -> None:
                from gantry.errors import GantryError
                from gantry.release import pinned_compose

                check = self.checked.get(rid) or self.verify(rid)
                try:
                    text = commands.pinned_header(rid) + pinned_compose(check.compose_yaml, pins)
                except (ValueError, GantryError) as exc:
                    raise HostError(self.host, "pin", f"release {rid}: {getattr(exc, 'what', exc)}",
                                    "its compose.yaml was not written by this Gantry; deploy it again") from None
                self.conn.run(commands.write_pinned(self.layout), step="pin", stdin=text.encode())

            self.step("pin", pin)
        cmd = commands.pull_and_up(self.project, self.layout, rid, images, first_poll=True, pinned=bool(pins))
        self.first_poll = None

        def run() -> dict[str, str]:
            sent = time.monotonic()
            out = _retry_transient(lambda: self.conn.run(cmd, step="up", check=False), self.cancel)
            returned = time.monotonic()
            sections = split_sections(out.stdout)
            t0 = "".join(sections.get("t0", [])).strip()
            self.up_since = int(t0) if t0.isdigit() else self.up_since
            if not out.ok or f"{commands.MARK}up-done" not in out.stdout:
                tail = "\n    ".join((out.stderr.strip() or out.stdout.strip()).splitlines()[-8:])
                needs = f" (release images: {', '.join(images)})" if images else ""
                raise self._up_failed(f"docker compose pull/up failed{needs}:\n    {tail}", specs)
            self.first_poll = parse_poll(out.stdout)
            self._host_spans(sections, sent, returned)
            return parse_image_digests(sections.get("images", []), images)

        self.resolved = self.step("up", run)

    def _host_spans(self, sections: Mapping[str, list[str]], sent: float, returned: float) -> None:
        """The parts of the `up` round trip, timed by the host's clock, placed on the local timeline (the
        first clock reading taken as the moment the command was sent; the last part ends when it returned)."""
        marks = [(name, parse_clock(sections.get(name, []))) for name in ("clock-start", "clock-pulled",
                                                                          "clock-up", "now")]
        known = [(name, t) for name, t in marks if t is not None]
        if len(known) < 2:
            return
        shift = sent - known[0][1]
        names = {"clock-start": "pull check", "clock-pulled": "up -d", "clock-up": "image digests", "now": "first poll"}
        for (name, a), (_, b) in zip(known, [*known[1:], ("", returned - shift)]):
            self.spans.append((self._label(names.get(name, name)), a + shift, b + shift))

    def _up_failed(self, what: str, specs: tuple[ServiceSpec, ...]) -> HostError:
        """`up` stops at a dependency that failed (a one-shot job that exited non-zero, an unhealthy service
        others wait for): name it, with its last log lines, as a failed health wait would."""
        try:
            found = verdict(self.poll().containers, specs, {}, 0.0, 0.0, self.project) if specs else None
        except HostError:
            found = None
        if isinstance(found, Failed) and found.container:
            return UpFailed(self.host, "up", found.reason, found.service,
                            self.diagnose(found), what)
        return HostError(self.host, "up", what, "check the image names, the registry and the host's access to it")

    def poll(self) -> HealthPoll:
        out = self.conn.run(commands.health_poll(self.project), step="health").stdout
        return parse_poll(out) or HealthPoll()

    def slow_stops(self) -> tuple[SlowStop, ...]:
        """Containers that the last `up` had to SIGKILL after their stop timeout (they ignore SIGTERM)."""
        if not self.up_since:
            return ()
        out = self.conn.run(commands.kill_events(self.project, self.up_since), step="events", check=False)
        return parse_kill_events(out.stdout.splitlines(), self.up_since)

    def verify(self, rid: str) -> ReleaseCheck:
        """Read-only: is a kept release complete, its files matching its manifest?"""
        out = self.conn.run(commands.verify_release(self.layout, rid), step="verify", check=False)
        return parse_release_check(out.stdout, rid)

    def wait(self, specs: tuple[ServiceSpec, ...]) -> Verdict:
        deadline = self.health.timeout or deadline_for(specs, self.health.settle, self.health.margin)
        polls: list[tuple[float, float]] = []

        def poll():
            t0 = time.monotonic()
            containers = self.poll()
            polls.append((t0, time.monotonic()))
            return containers

        # `verdict` is the health module's function: the wait's own result gets another name
        first, self.first_poll = self.first_poll, None
        result = self.step("health", lambda: wait_healthy(poll, specs, interval=self.health.interval,
                                                          deadline=deadline, settle=self.health.settle, first=first,
                                                          # a rollback is never cut short: it restores service
                                                          cancel=None if self.phase == "rollback" else self.cancel,
                                                          project=self.project))
        if polls:  # the wait stops at the first healthy poll: the last one (the up round trip made the first)
            last = "first healthy poll" if not isinstance(result, Failed) else "last poll"
            self.spans.append((self._label(f"{last} (poll {len(polls) + (first is not None)})"), *polls[-1]))
        return result

    def switch(self, rid: str, manifest: Mapping | None = None) -> None:
        """Make rid current; with a manifest, first record the image digests resolved on this host in it."""
        cmd = commands.switch_current(self.layout, rid)
        if manifest is not None and self.resolved:
            record = dict(manifest, resolved_images=dict(sorted(self.resolved.items())))
            cmd = commands.record_and_switch(self.layout, rid, render_manifest(record))
        self.step("switch", lambda: self.conn.run(cmd, step="switch"))

    def read_audit(self) -> tuple[dict, ...]:
        from gantry.engines.hosts.facts import parse_audit

        out = self.conn.run(commands.read_audit(self.layout), step="read audit")
        return parse_audit(out.stdout).records

    def read_release(self, rid: str) -> tuple[tuple[ServiceSpec, ...], dict[str, str]]:
        """A kept release's health specs (from its compose file) and its recorded image digests."""
        check = self.checked.get(rid) or self.verify(rid)
        specs = service_specs(yamlio.load_document(check.compose_yaml, "compose.yaml").data or {})
        return specs, dict(check.manifest.get("resolved_images") or {})

    def stop_services(self, rid: str, services: tuple[str, ...]) -> None:
        self.step("stop", lambda: self.conn.run(commands.compose_stop(self.project, self.layout, rid, services),
                                                step="stop", check=False))

    def diagnose(self, failed: Failed) -> str:
        """The failing container's last health-check outputs and log lines, secrets redacted."""
        if not failed.container:
            return ""
        lines = []
        out = self.conn.run(commands.inspect_health((failed.container,)), step="diagnose", check=False)
        health_log = _health_log(out.stdout)
        if health_log:
            lines.append(f"last health checks of {failed.container}:")
            lines += [f"  exit {h.get('ExitCode')}: {str(h.get('Output', '')).strip()[:200]}" for h in health_log]
        logs = self.conn.run(commands.container_logs(failed.container), step="diagnose", check=False)
        text = (logs.stdout + logs.stderr).strip()
        if text:
            lines.append(f"last log lines of {failed.container}:")
            lines += [f"  {line}" for line in text.splitlines()[-15:]]
        return self.redact("\n".join(lines))

    def finish(self, prune: tuple[str, ...], audit_json: str) -> None:
        self.phase = ""
        self.step("finish", lambda: self.conn.run(commands.finish(self.layout, None, prune, audit_json),
                                                  step="finish"))
