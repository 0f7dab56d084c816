"""Release + what is live on each host -> Plan: the one value `inv plan` prints and `inv deploy` executes.

Per host: what changes (a unified diff of the rendered compose file, images, services added, removed or
recreated, secret keys added, removed or changed, by name and short hash, never the value) and the steps
that make the change, each with its undo; and the batches in rollout order. Pure: the engine reads the
hosts and supplies the steps (`StepBuilder`), this decides; gantry.run executes.
"""

from __future__ import annotations

import difflib
import functools
import json
import re
import types
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field, replace

from gantry import yamlio
from gantry.errors import GantryError
from gantry.release import Release

EXIT_NO_CHANGES = 0
EXIT_CHANGES = 6


@dataclass(frozen=True)
class LiveRelease:
    """What a host runs now, as read from its `current` release directory."""

    id: str = ""
    compose_yaml: str = ""
    manifest_json: str = ""
    not_healthy: str = ""  # why the live containers are not all running and healthy ('' when they are)
    releases: tuple[str, ...] = ()  # the release ids the host keeps


@dataclass(frozen=True)
class Step:
    """One thing an engine does on one host. `undo` returns the host to what it ran before once this step
    has started (the runner runs the failing step's undo; the fleet rule, the last step's)."""

    kind: str  # the engine's own word: upload, ship, up, wait, switch, stop, ...
    release: str
    undo: tuple[Step, ...] = ()
    pinned: bool = False  # bring the release up with the image digests recorded when it first went live
    restoring: bool = False  # part of an undo: labelled rollback:, never cut short by Ctrl-C
    failing_only: bool = False  # stop: only the service that failed (all of the release's when none is named)

    def describe(self) -> str:
        extra = " (pinned digests)" if self.pinned else " (the failing service)" if self.failing_only else ""
        return f"{self.kind} {self.release}{extra}"

    def to_dict(self) -> dict:
        return {"kind": self.kind, "release": self.release, "pinned": self.pinned, "restoring": self.restoring,
                "failing_only": self.failing_only, "undo": [u.to_dict() for u in self.undo]}


@dataclass(frozen=True)
class ImageChange:
    service: str
    old: str
    new: str


@dataclass(frozen=True)
class HostPlan:
    host: str
    current: str
    action: str  # first-deploy | deploy | repair (same content, containers not healthy) | unchanged | rollback
    diff: str = ""
    images: tuple[ImageChange, ...] = ()
    added: tuple[str, ...] = ()
    removed: tuple[str, ...] = ()
    recreated: tuple[str, ...] = ()
    secrets_added: tuple[str, ...] = ()
    secrets_removed: tuple[str, ...] = ()
    secrets_changed: tuple[str, ...] = ()
    target: str = ""  # the release the host runs once the steps are done
    steps: tuple[Step, ...] = ()

    @property
    def restores(self) -> str:
        """The release an undo returns this host to ('' when there is none: a first deploy, a repair)."""
        return self.current if self.current and self.current != self.target else ""

    def to_dict(self) -> dict:
        return {
            "host": self.host, "current": self.current, "action": self.action, "target": self.target,
            "steps": [s.to_dict() for s in self.steps], "diff": self.diff,
            "images": [vars(i) for i in self.images], "services": {
                "added": list(self.added), "removed": list(self.removed), "recreated": list(self.recreated)},
            "secrets": {"added": list(self.secrets_added), "removed": list(self.secrets_removed),
                        "changed": list(self.secrets_changed)},
        }


@dataclass(frozen=True)
class Plan:
    release: str
    batches: tuple[tuple[str, ...], ...]
    hosts: tuple[HostPlan, ...] = field(default_factory=tuple)
    action: str = "deploy"  # deploy | rollback
    fleet: bool = True  # rollout.rollback: fleet -- a failed batch returns every host this run moved

    def host(self, name: str) -> HostPlan:
        return next(h for h in self.hosts if h.host == name)

    @property
    def changes(self) -> bool:
        return any(h.action != "unchanged" for h in self.hosts)

    @property
    def exit_code(self) -> int:
        return EXIT_CHANGES if self.changes else EXIT_NO_CHANGES

    def to_dict(self) -> dict:
        return {"action": self.action, "release": self.release, "changes": self.changes, "fleet": self.fleet,
                "batches": [list(b) for b in self.batches],
                "hosts": [h.to_dict() for h in self.hosts],
                "groups": [list(hosts) for hosts, _ in group_hosts(self)]}


def batches(hosts: Sequence[str], batch_size: int) -> tuple[tuple[str, ...], ...]:
    size = batch_size or len(hosts) or 1
    return tuple(tuple(hosts[i:i + size]) for i in range(0, len(hosts), size))


@functools.lru_cache(maxsize=32)
def services_of(compose_yaml: str) -> Mapping[str, object]:
    """The services of a compose text (read only: one parse per text, for every host that runs it)."""
    if not compose_yaml.strip():
        return {}
    try:
        data = yamlio.load_document(compose_yaml, "compose.yaml").data or {}
    except GantryError:
        return {}
    return types.MappingProxyType(data.get("services") or {} if isinstance(data, dict) else {})


@functools.lru_cache(maxsize=32)
def _diff_body(old: str, new: str) -> tuple[str, ...]:
    """The unified diff of two compose texts without its two header lines (the same for every host)."""
    return tuple(difflib.unified_diff(old.splitlines(keepends=True), new.splitlines(keepends=True), "a", "b"))[2:]


def _diff(old: str, new: str, fromfile: str, tofile: str) -> str:
    body = _diff_body(old, new)
    return f"--- {fromfile}\n+++ {tofile}\n" + "".join(body) if body else ""


def _manifest(text: str) -> Mapping:
    try:
        data = json.loads(text) if text.strip() else {}
    except ValueError:
        return {}
    return data if isinstance(data, dict) else {}


def plan_host(host: str, release: Release, live: LiveRelease) -> HostPlan:
    new_hash = release.content_hash
    old_manifest = _manifest(live.manifest_json)
    if live.id and old_manifest.get("content_hash") == new_hash:
        # Same content: `deploy` still brings up what is not running and healthy there, and so says the plan.
        return HostPlan(host, live.id, "repair" if live.not_healthy else "unchanged", diff=live.not_healthy,
                        target=live.id)
    old_svcs, new_svcs = services_of(live.compose_yaml), services_of(release.compose_yaml)
    diff = _diff(live.compose_yaml, release.compose_yaml, f"{host}:current/compose.yaml" if live.id else "/dev/null",
                 f"{release.id}/compose.yaml")
    images = tuple(
        ImageChange(name, str((old_svcs.get(name) or {}).get("image", "")), str(svc.get("image", "")))
        for name, svc in sorted(new_svcs.items())
        if name in old_svcs and (old_svcs[name] or {}).get("image") != svc.get("image"))
    old_secrets = old_manifest.get("secrets") or {}
    new_secrets = release.manifest.get("secrets") or {}
    changed_secrets = tuple(sorted(k for k in new_secrets if k in old_secrets and old_secrets[k] != new_secrets[k]))
    recreated = tuple(sorted(n for n in new_svcs if n in old_svcs and (
        old_svcs[n] != new_svcs[n] or _uses_any(new_svcs[n], changed_secrets))))
    return HostPlan(
        host=host,
        current=live.id,
        action="deploy" if live.id else "first-deploy",
        diff=diff,
        images=images,
        added=tuple(sorted(set(new_svcs) - set(old_svcs))),
        removed=tuple(sorted(set(old_svcs) - set(new_svcs))),
        recreated=recreated,
        secrets_added=tuple(sorted(set(new_secrets) - set(old_secrets))),
        secrets_removed=tuple(sorted(set(old_secrets) - set(new_secrets))),
        secrets_changed=changed_secrets,
        target=release.id,
    )


def _uses_any(service: object, names: Sequence[str]) -> bool:
    text = json.dumps(service, sort_keys=True)
    return any(f"${{{n}}}" in text for n in names)


# The engine's steps for one host: (the host's plan without steps, the release, what the host runs) -> steps
StepBuilder = Callable[[HostPlan, Release, LiveRelease], tuple[Step, ...]]
RollbackBuilder = Callable[[HostPlan, LiveRelease], tuple[Step, ...]]


def make_plan(release: Release, live: Mapping[str, LiveRelease], hosts: Sequence[str], batch_size: int = 0, *,
              steps: StepBuilder | None = None, fleet: bool = True) -> Plan:
    """The deploy of `release` to `hosts`, given what each runs; `steps` is the engine's (none: changes only)."""
    plans = []
    for h in hosts:
        seen = live.get(h, LiveRelease())
        hp = plan_host(h, release, seen)
        plans.append(replace(hp, steps=steps(hp, release, seen)) if steps else hp)
    return Plan(release.id, batches(hosts, batch_size), tuple(plans), fleet=fleet)


def make_rollback_plan(targets: Mapping[str, str], live: Mapping[str, LiveRelease], hosts: Sequence[str], *,
                       steps: RollbackBuilder, fleet: bool = True) -> Plan:
    """Every host back to its target release (all at once: a rollback restores service, it is not rolled out)."""
    plans = []
    for h in hosts:
        seen = live.get(h, LiveRelease())
        hp = HostPlan(h, seen.id, "rollback", target=targets[h])
        plans.append(replace(hp, steps=steps(hp, seen)))
    rids = set(targets.values())
    return Plan(rids.pop() if len(rids) == 1 else "previous", (tuple(hosts),), tuple(plans), action="rollback",
                fleet=fleet)


def host_ranges(hosts: Sequence[str]) -> str:
    """Host names for people: runs of one prefix with consecutive numbers shortened (app-1..app-40)."""
    out: list[str] = []
    run: list[tuple[str, int, str]] = []

    def flush() -> None:
        if len(run) > 2:
            out.append(f"{run[0][2]}..{run[-1][2]}")
        else:
            out.extend(r[2] for r in run)
        run.clear()

    for name in hosts:
        m = re.fullmatch(r"(.*?)(\d+)", name)
        if m and run and run[-1][0] == m.group(1) and run[-1][1] + 1 == int(m.group(2)):
            run.append((m.group(1), int(m.group(2)), name))
            continue
        flush()
        if m:
            run.append((m.group(1), int(m.group(2)), name))
        else:
            out.append(name)
    flush()
    return ", ".join(out)


def _same_change(h: HostPlan) -> HostPlan:
    """A host's plan with its own name taken out, so that hosts with the same change compare equal."""
    return replace(h, host="", diff=h.diff.replace(f"{h.host}:current/", "HOST:current/", 1))


def group_hosts(plan: Plan) -> tuple[tuple[tuple[str, ...], HostPlan], ...]:
    """Hosts whose plans are identical but for the host name, in first-seen order: (hosts, the shared plan)."""
    groups: dict[HostPlan, list[str]] = {}
    for h in plan.hosts:
        groups.setdefault(_same_change(h), []).append(h.host)
    return tuple((tuple(names), shared) for shared, names in groups.items())


def render_plan(plan: Plan, *, fingerprints: Mapping[str, str] | None = None, per_host: bool = False) -> str:
    """The plan for people: per host (or per group of hosts with the same change), then the rollout order."""
    lines = [f"plan for release {plan.release}"]
    own = {h.host: h for h in plan.hosts}
    entries = ([((h.host,), h) for h in plan.hosts] if per_host else
               [(hosts, own[hosts[0]] if len(hosts) == 1 else shared) for hosts, shared in group_hosts(plan)])
    for hosts, h in entries:
        label = host_ranges(hosts) + (f" ({len(hosts)} hosts)" if len(hosts) > 2 else "")
        lines.append(f"\n{label}: {h.action}" + (f" (live: {h.current})" if h.current else ""))
        if h.action == "unchanged":
            continue
        if h.action == "repair":
            lines.append(f"  the live release is brought up again: {h.diff}")
            lines += _render_steps(h)
            continue
        if h.action == "rollback":
            lines.append(f"  back to {h.target}" + ("  (already live: re-activated)" if h.current == h.target else ""))
            lines += _render_steps(h)
            continue
        for label, names in (("services added", h.added), ("services removed", h.removed),
                             ("services recreated", h.recreated)):
            if names:
                lines.append(f"  {label}: {', '.join(names)}")
        for img in h.images:
            lines.append(f"  image {img.service}: {img.old} -> {img.new}")
        fp = fingerprints or {}
        for label, names in (("secrets added", h.secrets_added), ("secrets removed", h.secrets_removed),
                             ("secrets changed", h.secrets_changed)):
            if names:
                lines.append(f"  {label}: " + ", ".join(f"{n} ({fp[n]})" if n in fp else n for n in names))
        lines += _render_steps(h)
        if h.diff:
            lines.append("  compose.yaml diff:")
            lines += [f"    {line}" for line in h.diff.rstrip("\n").splitlines()]
    lines.append("\nrollout: " + " then ".join("[" + ", ".join(b) + "]" for b in plan.batches)
                 + ("; a failed batch returns every host moved" if plan.fleet and len(plan.batches) > 1 else ""))
    lines.append("changes: yes" if plan.changes else "changes: none")
    return "\n".join(lines)


def _render_steps(h: HostPlan) -> list[str]:
    """The steps for people, with what undoes them: `up 2026... -> wait ... (on failure: up r1 (pinned), ...)`."""
    if not h.steps:
        return []
    lines = ["  steps: " + " -> ".join(s.describe() for s in h.steps)]
    undos = list(dict.fromkeys(s.undo for s in h.steps if s.undo))
    for undo in undos:
        after = next(s for s in h.steps if s.undo == undo)
        lines.append(f"    from {after.kind} on, undo: " + " -> ".join(u.describe() for u in undo))
    return lines
