"""Host rules (HOST-* in the catalogue), judged at deploy preflight: confinement, versions, free disk.

They need the host, so the engine reads `docker info` and friends in the lock round trip and parses it
into a Preflight; this module only judges what was read, with the model rules' engine: severities by
level (a missing confinement is an error in prod, a warning elsewhere; a host Gantry cannot deploy to is
an error at every level), `policy.rules` overrides, and `policy.waivers` whose `service` names the host.
"""

from __future__ import annotations

import datetime
from collections.abc import Iterator, Mapping
from dataclasses import dataclass

from gantry.errors import PreflightError
from gantry.policy.catalogue import HOST_RULES
from gantry.policy.check import judge
from gantry.policy.findings import Finding, Hit, PolicyReport, PolicySettings
from gantry.policy.report import grouped_lines, hint

MIN_ENGINE = (20, 10)
MIN_COMPOSE = (2, 20)
MIN_FREE_KIB = 1024 * 1024  # 1 GiB under the deploy path


@dataclass(frozen=True)
class Preflight:
    """What a host's engine says of itself: `docker info` security options, versions, free disk."""

    security_options: tuple[str, ...] = ()
    engine_version: str = ""
    compose_version: str = ""
    free_kib: int = -1
    legacy: tuple[str, ...] = ()  # containers of this environment under its legacy compose project name

    @property
    def confinement(self) -> tuple[str, ...]:
        """Names of active confinement options: apparmor, selinux, seccomp."""
        names = []
        for opt in self.security_options:
            for part in opt.split(","):
                if part.startswith("name="):
                    names.append(part[5:])
        return tuple(names)


def _version(text: str) -> tuple[int, ...]:
    parts = []
    for piece in text.lstrip("v").split("."):
        digits = "".join(ch for ch in piece if ch.isdigit())
        if not digits:
            break
        parts.append(int(digits))
    return tuple(parts)


def host_hits(pre: Preflight, *, min_free_kib: int = MIN_FREE_KIB) -> Iterator[Hit]:
    """The HOST-* rules that fire on one host's preflight facts."""
    names = set(pre.confinement)
    if not names & {"apparmor", "selinux"}:
        yield Hit("HOST-MAC-MISSING", "engine.security_options",
                  f"the Docker daemon runs without AppArmor or SELinux (security options: "
                  f"{', '.join(sorted(names)) or 'none'})")
    if "seccomp" not in names:
        yield Hit("HOST-SECCOMP-MISSING", "engine.security_options", "the Docker daemon runs without seccomp")
    engine = _version(pre.engine_version)
    if not engine or engine[:2] < MIN_ENGINE:
        yield Hit("HOST-ENGINE-VERSION", "engine.version",
                  f"Docker Engine {pre.engine_version or 'not found'}; Gantry needs "
                  f"{'.'.join(map(str, MIN_ENGINE))} or newer")
    compose = _version(pre.compose_version)
    if not compose or compose[:2] < MIN_COMPOSE:
        yield Hit("HOST-COMPOSE-VERSION", "compose.version",
                  f"Docker Compose {pre.compose_version or 'not found'}; Gantry needs v2.{MIN_COMPOSE[1]} or newer "
                  f"(`docker compose`)")
    if 0 <= pre.free_kib < min_free_kib:
        yield Hit("HOST-DISK-LOW", "deploy_path.free", f"only {pre.free_kib // 1024} MiB free under the deploy path")
    if pre.legacy:  # up under the new name would start a second copy beside it, on new, empty volumes
        yield Hit("HOST-PROJECT-RENAMED", "compose.project",
                  f"this environment runs under its old compose project name (containers "
                  f"{', '.join(pre.legacy[:3])}{', ...' if len(pre.legacy) > 3 else ''}); its name changed so "
                  "that no two environments share one")


def check_hosts(preflights: Mapping[str, Preflight], settings: PolicySettings, *, today: datetime.date,
                min_free_kib: int = MIN_FREE_KIB) -> PolicyReport:
    """Judge every host's preflight facts (hosts in the order given); waived findings are kept, marked."""
    hits = [(host, hit) for host, pre in preflights.items() for hit in host_hits(pre, min_free_kib=min_free_kib)]
    return judge(hits, settings, today=today, order=list(preflights), catalogue=HOST_RULES)


def preflight_verdict(preflights: Mapping[str, Preflight], settings: PolicySettings, *,
                      today: datetime.date) -> tuple[list[PreflightError], list[str]]:
    """What the deploy does with the host rules: (errors that stop the run before any change, warnings).

    An error names its host; each warning is said once for the hosts that share it
    (`lab-1, lab-2: HOST-MAC-MISSING: ...` and a `hint:` line), for the caller to print as `warning: ...`.
    Waived findings and info are neither.
    """
    report = check_hosts(preflights, settings, today=today)
    errors = [PreflightError(f.service, "preflight", f"{f.rule}: {f.message}", hint(f.fix))
              for f in report.findings if f.severity == "error" and not f.waived]
    return errors, grouped_lines(f for f in report.findings if f.severity == "warn" and not f.waived)


def check_host(host: str, pre: Preflight, level: str, *, min_free_kib: int = MIN_FREE_KIB,
               overrides: Mapping[str, str] | None = None) -> list[Finding]:
    """One host's unwaived findings at `level` with `policy.rules` overrides (no waivers, no info)."""
    settings = PolicySettings(level=level, rules=dict(overrides or {}))
    report = check_hosts({host: pre}, settings, today=datetime.date.min, min_free_kib=min_free_kib)
    return [f for f in report.findings if f.severity in ("error", "warn")]

