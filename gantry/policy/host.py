"""Host-side checks at deploy preflight: daemon confinement, engine and compose versions, free disk.

They need the host, so the executor reads `docker info` and friends in the lock round trip; this
module only judges what was read. In prod a missing confinement is an error; elsewhere a warning.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, replace

from gantry.engines.hosts.facts import Preflight

MIN_ENGINE = (20, 10)
MIN_COMPOSE = (2, 20)
MIN_FREE_KIB = 1024 * 1024  # 1 GiB under the deploy path


@dataclass(frozen=True)
class HostFinding:
    host: str
    rule: str
    severity: str  # error | warn
    message: str
    fix: str


def _version(text: str) -> tuple[int, ...]:
    parts = []
    for piece in text.lstrip("v").split("."):
        digits = "".join(ch for ch in piece if ch.isdigit())
        if not digits:
            break
        parts.append(int(digits))
    return tuple(parts)


HOST_RULES = ("HOST-MAC-MISSING", "HOST-SECCOMP-MISSING", "HOST-ENGINE-VERSION", "HOST-COMPOSE-VERSION",
              "HOST-DISK-LOW")


def check_host(host: str, pre: Preflight, level: str, *, min_free_kib: int = MIN_FREE_KIB,
               overrides: Mapping[str, str] | None = None) -> list[HostFinding]:
    """Judge one host; `overrides` (policy.rules entries for HOST-* ids) set a rule to error, warn or off."""
    found = _check(host, pre, level, min_free_kib)
    overrides = overrides or {}
    return [replace(f, severity=overrides.get(f.rule, f.severity)) for f in found
            if overrides.get(f.rule) not in ("off", "info")]


def _check(host: str, pre: Preflight, level: str, min_free_kib: int) -> list[HostFinding]:
    blocking = "error" if level == "prod" else "warn"
    out: list[HostFinding] = []
    names = set(pre.confinement)
    if not names & {"apparmor", "selinux"}:
        out.append(HostFinding(host, "HOST-MAC-MISSING", blocking,
                               f"the Docker daemon runs without AppArmor or SELinux (security options: "
                               f"{', '.join(sorted(names)) or 'none'})",
                               "enable AppArmor (Debian/Ubuntu) or SELinux (RHEL) on the host and restart dockerd"))
    if "seccomp" not in names:
        out.append(HostFinding(host, "HOST-SECCOMP-MISSING", blocking, "the Docker daemon runs without seccomp",
                               "use a Docker build with seccomp support and do not set it unconfined"))
    engine = _version(pre.engine_version)
    if not engine or engine[:2] < MIN_ENGINE:
        out.append(HostFinding(host, "HOST-ENGINE-VERSION", "error",
                               f"Docker Engine {pre.engine_version or 'not found'}; Gantry needs "
                               f"{'.'.join(map(str, MIN_ENGINE))} or newer", "install or upgrade Docker Engine"))
    compose = _version(pre.compose_version)
    if not compose or compose[:2] < MIN_COMPOSE:
        out.append(HostFinding(host, "HOST-COMPOSE-VERSION", "error",
                               f"Docker Compose {pre.compose_version or 'not found'}; Gantry needs v2."
                               f"{MIN_COMPOSE[1]} or newer (`docker compose`)", "install the Compose v2 plugin"))
    if 0 <= pre.free_kib < min_free_kib:
        out.append(HostFinding(host, "HOST-DISK-LOW", "error",
                               f"only {pre.free_kib // 1024} MiB free under the deploy path",
                               "free disk space (old images: docker image prune) or raise the volume"))
    return out
