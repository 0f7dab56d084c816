"""What Gantry does on a swarm manager, step by step, over the manager's one connection.

`SwarmSession` is the hosts engine's HostSession for the manager, so Gantry's own state there is kept the
same way: lock, audit, releases/<id>/, `current`. It runs the hosts engine's steps (gantry/engines/hosts/
steps.py) with the swarm's meaning: `upload` stages a release (the bundle, images pinned to the digests the
manager resolves, the stack file, the Swarm secrets with their values on stdin), `up` is `docker stack
deploy` of a release's stack file, `wait` waits for the stack to converge, `switch` moves `current`, `stop`
scales the failing service to 0 (a first deploy has nothing to go back to). One session is the first
reachable manager: `connect` passes over managers that do not answer or do not manage (a refused host key
stops the run).
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

import yaml

from gantry.compose.dotenv import parse_dotenv
from gantry.engines.hosts.facts import parse_image_digests
from gantry.engines.hosts.session import HostSession
from gantry.engines.swarm import commands
from gantry.engines.swarm.facts import SwarmState, parse_json_lines, parse_state
from gantry.engines.swarm.stack import StackSettings, make_stack, monitor_seconds
from gantry.engines.swarm.verdict import leftovers, stack_verdict
from gantry.errors import HostError, HostKeyError
from gantry.health import Failed, Healthy, Pending, ServiceSpec, Verdict
from gantry.plan import LiveRelease, Step
from gantry.release import Release

if TYPE_CHECKING:
    from gantry.engines import Work
    from gantry.engines.hosts.facts import HostFacts

START_BUDGET = 30.0  # seconds a task may take to be scheduled, pull and start, beyond its monitor window


@dataclass(frozen=True)
class Staged:
    services: tuple[str, ...]
    deadline: float  # seconds the convergence wait may take


def converge_deadline(stack: Mapping, margin: float) -> float:
    """Services update at once, each in rounds of `parallelism` tasks, each round watched for `monitor`."""
    longest = 0.0
    for svc in (stack.get("services") or {}).values():
        deploy = svc.get("deploy") or {}
        replicas = int(deploy.get("replicas") or 1)
        update = deploy.get("update_config") or {}
        per = int(update.get("parallelism") or 0) or replicas
        monitor = monitor_seconds(svc.get("healthcheck"))
        longest = max(longest, math.ceil(replicas / per) * (monitor + START_BUDGET))
    return longest + margin


class SwarmOps:
    """The swarm steps on one manager, over its HostSession (connection, layout, step timings)."""

    def __init__(self, session: HostSession, settings: StackSettings, interval: float, timeout: float,
                 margin: float) -> None:
        self.s = session
        self.settings = settings
        self.interval = interval
        self.timeout = timeout
        self.margin = margin

    @property
    def stack(self) -> str:
        return self.settings.stack

    def read(self) -> SwarmState:
        out = self.s.conn.run(commands.state(self.stack), step="swarm state", check=False)
        state = parse_state(out.stdout)
        if not state.complete:
            raise HostError(self.s.host, "swarm state", "the manager's swarm state could not be read",
                            "check that docker answers on the manager")
        return state

    def check_manager(self) -> SwarmState:
        state = self.read()
        if not state.is_manager:
            node = state.swarm.get("LocalNodeState") or "unknown"
            raise HostError(self.s.host, "swarm", f"is not a swarm manager (swarm state: {node})",
                            "list the swarm's managers under `managers:` (docker node ls shows them)")
        return state

    def stage(self, release: Release) -> Staged:
        """Upload the bundle, pin images, write the stack file and create the secrets it names."""
        model = yaml.safe_load(release.compose_yaml) or {}
        images = sorted({str(s.get("image")) for s in (model.get("services") or {}).values() if s.get("image")})
        self.s.upload(release)
        resolved = self.s.step("resolve", lambda: self._resolve(images))
        pins = {name: resolved[str(svc.get("image"))] for name, svc in (model.get("services") or {}).items()
                if str(svc.get("image")) in resolved}
        stack, problems = make_stack(model, release.manifest.get("secrets", {}), pins, self.settings)
        if problems:  # SwarmEngine.deploy_steps refused these before the lock; a step may only raise HostError
            raise HostError(self.s.host, "stage", "; ".join(f"{p.where}: {p.what}" for p in problems))
        text = yaml.safe_dump(stack.data, sort_keys=False)
        values = parse_dotenv(release.env_file)  # read as `docker compose --env-file` reads it
        have = set(self.read().secrets)
        for secret in stack.secrets:
            if secret.name in have:
                continue
            value = values.get(secret.source)
            if value is None:
                raise HostError(self.s.host, "secret", f"secret {secret.source} has no value in the release")
            self.s.step("secret", lambda n=secret.name, v=value: self.s.conn.run(
                commands.secret_create(n, self.stack), step="secret", stdin=v.encode()), secret.name)
        self.s.step("stack file", lambda: self.s.conn.run(commands.write_stack_file(self.s.layout, release.id, text),
                                                          step="stack file"))
        self.s.resolved = resolved  # HostSession.switch records them in the release's manifest
        return Staged(tuple(sorted(stack.data["services"])), converge_deadline(stack.data, self.margin))

    def _resolve(self, images: list[str]) -> dict[str, str]:
        out = self.s.conn.run(commands.resolve_images(images), step="resolve", check=False)
        if not out.ok:
            tail = (out.stderr.strip() or out.stdout.strip()).splitlines()[-3:]
            raise HostError(self.s.host, "resolve", "the manager could not pull the release's images: "
                            + " | ".join(tail), "check the image names and the manager's access to the registry")
        return parse_image_digests(out.stdout.splitlines(), images)

    def kept_stack(self, rid: str) -> tuple[tuple[str, ...], float]:
        """A kept release's services and convergence deadline, read from its stack file on the manager."""
        data = self._kept(rid)
        if not isinstance(data, dict) or not data.get("services"):
            raise HostError(self.s.host, "rollback", f"release {rid} has no stack file on the manager",
                            "pick another kept release with --to ID, or deploy the version again")
        return tuple(sorted(data["services"])), converge_deadline(data, self.margin)

    def deploy(self, rid: str) -> float:
        """`docker stack deploy` of a staged release; returns the manager's clock just before it."""
        state = self.read()
        missing = [n for n in self._secret_names(rid) if n not in state.secrets]
        if missing:
            raise HostError(self.s.host, "deploy", f"release {rid} needs Swarm secrets that are gone: "
                            + ", ".join(missing), "deploy that version again (its secrets are made anew)")
        since = state.clock or 0.0

        def run() -> None:
            out = self.s.conn.run(commands.stack_deploy(self.s.layout, rid, self.stack), step="stack deploy",
                                  check=False)
            if not out.ok:
                tail = "\n    ".join((out.stderr.strip() or out.stdout.strip()).splitlines()[-8:])
                raise HostError(self.s.host, "stack deploy", f"docker stack deploy failed:\n    {tail}",
                                "check the stack file the release made (inv deploy --verbose shows the commands)")

        self.s.step("stack deploy", run)
        return since

    def _kept(self, rid: str) -> dict | None:
        out = self.s.conn.run(commands.read_stack_file(self.s.layout, rid), step="read stack", check=False)
        try:
            data = yaml.safe_load(out.stdout) if out.ok else None
        except yaml.YAMLError:
            return None
        return data if isinstance(data, dict) else None

    def _secret_names(self, rid: str) -> list[str]:
        secrets = (self._kept(rid) or {}).get("secrets") or {}
        return sorted(str(s.get("name")) for s in secrets.values() if isinstance(s, dict) and s.get("external"))

    def wait(self, services: tuple[str, ...], since: float, deadline: float, cancel) -> Verdict:
        """Poll until the stack converged, Swarm rolled a service back, or the deadline passed."""
        limit = time.monotonic() + (self.timeout or deadline)

        asked: set[str] = set()

        def run() -> Verdict:
            while True:
                state = self.read()
                verdict = stack_verdict(state, self.stack, services, since)
                if not isinstance(verdict, Pending):
                    return verdict
                if cancel is not None and cancel.is_set():
                    return Failed(f"interrupted while waiting: {verdict.reason}")
                for name in leftovers(state, self.stack, services):
                    if name not in asked:  # once per service and wait: Swarm reconciles on the next update
                        asked.add(name)
                        self.reconcile(name)
                if time.monotonic() >= limit:
                    return Failed(f"the stack did not converge within {self.timeout or deadline:.0f} s: "
                                  f"{verdict.reason}")
                time.sleep(self.interval)

        return self.s.step("converge", run)

    def reconcile(self, service: str) -> None:
        """Have Swarm start the service's update over: an old task was left running beside its replacement."""
        name = f"{self.stack}_{service}"

        def run() -> None:
            out = self.s.conn.run(commands.service_reconcile(name), step="reconcile", check=False)
            if not out.ok:
                raise HostError(self.s.host, "reconcile", f"Swarm refused to restart the update of {service}: "
                                f"{self.s.redact((out.stderr or out.stdout).strip()[-300:])}",
                                f"see `docker service ps {name}` on the manager")

        self.s.step("reconcile", run, f"{service}: an old task still runs beside its replacement; the update "
                    "starts over (docker service update --force)")

    def diagnose(self, failed: Failed) -> str:
        """The failing service's recent tasks (node, state, error) and its last log lines, secrets redacted."""
        if not failed.service:
            return ""
        name = f"{self.stack}_{failed.service}"
        lines = [f"recent tasks of {name}:"]
        out = self.s.conn.run(commands.service_ps(name), step="diagnose", check=False)
        for row in parse_json_lines(out.stdout)[:6]:
            lines.append(f"  {row.get('Name', '')} {row.get('CurrentState', '')} desired {row.get('DesiredState', '')}"
                         + (f": {row.get('Error')}" if row.get("Error") else ""))
        logs = self.s.conn.run(commands.service_logs(name, 15), step="diagnose", check=False)
        text = (logs.stdout + logs.stderr).strip()
        if text:
            lines.append(f"last log lines of {name}:")
            lines += [f"  {line}" for line in text.splitlines()[-15:]]
        return self.s.redact("\n".join(lines))

    def prune_secrets(self, kept: Sequence[str]) -> None:
        """Remove this stack's Swarm secrets that no kept release names (Swarm refuses to remove one in use)."""
        wanted = {n for rid in kept for n in self._secret_names(rid)}
        stale = [n for n in self.read().secrets if n not in wanted]
        if stale:
            self.s.step("prune secrets", lambda: self.s.conn.run(commands.secret_rm(stale), step="prune secrets",
                                                                 check=False), f"{len(stale)} unused")

    def scale_to_zero(self, services: tuple[str, ...]) -> None:
        """Stop the named services of the stack (all of them when none is named): `docker service scale S=0`."""
        names = [f"{self.stack}_{s}" for s in services] or [s.name for s in self.read().services]
        if names:
            self.s.step("stop", lambda: self.s.conn.run(commands.scale_to_zero(names), step="stop", check=False))

    def record(self, rid: str, manifest: Mapping | None = None) -> None:
        """Make rid the manager's `current`; a new release's manifest gets the digests the manager resolved."""
        self.s.switch(rid, manifest)


@dataclass
class SwarmSession(HostSession):
    """The first reachable manager of a swarm, during one run (see the module docstring)."""

    settings: StackSettings = field(default_factory=lambda: StackSettings("stack"))
    others: Sequence[object] = ()  # the further managers' connections, tried in order when one fails
    passed: list[str] = field(default_factory=list)  # managers passed over, and why
    state: SwarmState | None = None
    since: float = 0.0  # the manager's clock when the last `docker stack deploy` began
    staged: dict[str, tuple[tuple[str, ...], float]] = field(default_factory=dict)  # rid -> services, deadline
    warn: Callable[[str], None] = lambda text: None

    @property
    def ops(self) -> SwarmOps:
        h = self.health
        return SwarmOps(self, self.settings, h.interval, h.timeout, h.margin)

    def connect(self) -> None:
        if self.conn.is_open and self.state is not None:
            return
        candidates = [self.conn, *self.others]
        for i, conn in enumerate(candidates):
            self.conn = conn
            try:
                HostSession.connect(self)
                self.state = self.ops.check_manager()
            except HostKeyError:
                raise
            except HostError as exc:
                conn.close()
                if i == len(candidates) - 1:
                    if self.passed:
                        exc.what += f" (also passed over: {'; '.join(self.passed)})"
                    raise
                self.passed.append(f"{conn.target.label}: {exc.what}")
                continue
            for text in self.passed:
                self.warn(f"warning: manager {text}; using {conn.target.label}")
            self.others = ()
            return

    def observe(self) -> HostFacts:
        facts = HostSession.observe(self)
        self.state = self.ops.read()
        return facts

    def lock(self, info_json: str, *, wait: float = 0.0, preflight: bool = True,
             images: Sequence[str] = ()) -> HostFacts:
        """The hosts engine's lock on the manager; no compose preflight (a manager runs no compose project)."""
        facts = HostSession.lock(self, info_json, wait=wait, preflight=False)
        self.state = self.ops.read()
        return facts

    def live(self, specs: tuple[ServiceSpec, ...]) -> LiveRelease:
        """What the stack runs, as last observed; judged by the convergence verdict (old rollbacks aside)."""
        seen = stack_verdict(self.state or SwarmState(), self.settings.stack, tuple(s.name for s in specs),
                             float("inf")) if self.facts.current else Healthy()
        return LiveRelease(self.facts.current, self.live_compose if self.facts.current else "",
                           self.live_manifest if self.facts.current else "",
                           "" if isinstance(seen, Healthy) else getattr(seen, "reason", "not converged"),
                           self.facts.releases)

    def execute(self, step: Step, work: Work) -> Verdict | None:
        self.phase = "rollback" if step.restoring else ""
        rid, ops = step.release, self.ops
        if step.kind == "upload":
            staged = ops.stage(work.release)
            self.staged[rid] = (staged.services, staged.deadline)
        elif step.kind == "up":
            self.since = ops.deploy(rid)
        elif step.kind == "wait":
            services, deadline = self.staged.get(rid) or ops.kept_stack(rid)
            return ops.wait(services, self.since, deadline, None if step.restoring else self.cancel)
        elif step.kind == "switch":
            forward = work.release is not None and rid == work.release.id and not step.restoring
            ops.record(rid, work.release.manifest if forward else None)
        elif step.kind == "stop":
            ops.scale_to_zero((work.failing,) if step.failing_only and work.failing else ())
        else:
            raise HostError(self.host, step.kind, f"the swarm engine has no step {step.kind!r}")
        return None

    def slow_stops(self) -> tuple:
        return ()

    def finish(self, prune: tuple[str, ...], audit_json: str) -> None:
        """The Swarm secrets only pruned releases named (a kept release's stay: a rollback needs them), then
        the hosts engine's finish: the audit line, pruned releases, the lock back."""
        if prune:  # still under the lock: another deploy's new secret cannot be taken for a stale one
            kept = (set(self.facts.releases) | set(self.staged)) - set(prune)
            self.ops.prune_secrets(sorted(kept))
        HostSession.finish(self, prune, audit_json)

    def diagnose(self, failed: Failed) -> str:
        return self.ops.diagnose(failed)

    def close(self) -> None:
        for conn in [self.conn, *self.others]:
            conn.close()
