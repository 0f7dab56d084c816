"""Release + what is live on each host -> Plan. Pure: the executor reads the hosts, this decides.

Per host: a unified diff of the rendered compose file, images that change, services that will be
added, removed or recreated, and secret keys added, removed or changed (by name and short hash,
never the value); and the batches in rollout order.
"""

from __future__ import annotations

import difflib
import json
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field, replace

import yaml

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


@dataclass(frozen=True)
class ImageChange:
    service: str
    old: str
    new: str


@dataclass(frozen=True)
class HostPlan:
    host: str
    current: str
    action: str  # first-deploy | deploy | repair (same content, containers not healthy) | unchanged
    diff: str = ""
    images: tuple[ImageChange, ...] = ()
    added: tuple[str, ...] = ()
    removed: tuple[str, ...] = ()
    recreated: tuple[str, ...] = ()
    secrets_added: tuple[str, ...] = ()
    secrets_removed: tuple[str, ...] = ()
    secrets_changed: tuple[str, ...] = ()

    def to_dict(self) -> dict:
        return {
            "host": self.host, "current": self.current, "action": self.action, "diff": self.diff,
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

    @property
    def changes(self) -> bool:
        return any(h.action != "unchanged" for h in self.hosts)

    @property
    def exit_code(self) -> int:
        return EXIT_CHANGES if self.changes else EXIT_NO_CHANGES

    def to_dict(self) -> dict:
        return {"release": self.release, "changes": self.changes, "batches": [list(b) for b in self.batches],
                "hosts": [h.to_dict() for h in self.hosts],
                "groups": [list(hosts) for hosts, _ in group_hosts(self)]}


def batches(hosts: Sequence[str], batch_size: int) -> tuple[tuple[str, ...], ...]:
    size = batch_size or len(hosts) or 1
    return tuple(tuple(hosts[i:i + size]) for i in range(0, len(hosts), size))


def _services(compose_yaml: str) -> Mapping[str, object]:
    try:
        data = yaml.safe_load(compose_yaml) or {}
    except yaml.YAMLError:
        return {}
    return data.get("services") or {} if isinstance(data, dict) else {}


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
        return HostPlan(host, live.id, "repair" if live.not_healthy else "unchanged", diff=live.not_healthy)
    old_svcs, new_svcs = _services(live.compose_yaml), _services(release.compose_yaml)
    diff = "".join(difflib.unified_diff(
        live.compose_yaml.splitlines(keepends=True), release.compose_yaml.splitlines(keepends=True),
        fromfile=f"{host}:current/compose.yaml" if live.id else "/dev/null", tofile=f"{release.id}/compose.yaml"))
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
    )


def _uses_any(service: object, names: Sequence[str]) -> bool:
    text = json.dumps(service, sort_keys=True)
    return any(f"${{{n}}}" in text for n in names)


def make_plan(release: Release, live: Mapping[str, LiveRelease], hosts: Sequence[str], batch_size: int) -> Plan:
    return Plan(release.id, batches(hosts, batch_size),
                tuple(plan_host(h, release, live.get(h, LiveRelease())) for h in hosts))


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
        if h.diff:
            lines.append("  compose.yaml diff:")
            lines += [f"    {line}" for line in h.diff.rstrip("\n").splitlines()]
    lines.append("\nrollout: " + " then ".join("[" + ", ".join(b) + "]" for b in plan.batches))
    lines.append("changes: yes" if plan.changes else "changes: none")
    return "\n".join(lines)
