"""The values the policy check takes and returns: settings, waivers, findings, the report."""

from __future__ import annotations

import datetime
from collections.abc import Mapping
from dataclasses import dataclass, field
from types import MappingProxyType

from gantry.policy.catalogue import RULES, Rule
from gantry.units import parse_size

SEVERITIES = ("error", "warn", "info")
LEVELS = ("prod", "lab", "dev", "local")

_EMPTY: Mapping = MappingProxyType({})


@dataclass(frozen=True)
class Finding:
    """One rule firing on one service, located by its compose key path."""

    rule: str
    title: str
    service: str
    path: str
    severity: str
    message: str
    why: str
    fix: str
    waived: bool = False
    waiver_reason: str = ""


@dataclass(frozen=True)
class Waiver:
    """An accepted exception: rule + service, with a reason and an optional expiry date."""

    rule: str
    service: str
    reason: str
    expires: datetime.date | None = None


@dataclass(frozen=True)
class PolicySettings:
    """How strict to be.

    `level` picks the severity column: prod uses the prod column, lab the prod column with
    error lowered to warn, dev and local the dev column. `rules` overrides a rule's severity
    (error|warn|info|off) after the level is applied.
    """

    level: str = "prod"
    rules: Mapping[str, str] = field(default_factory=lambda: _EMPTY)
    allow_registries: tuple[str, ...] = ()
    allowed_privileged_ports: Mapping[str, tuple[int, ...]] = field(default_factory=lambda: _EMPTY)
    waivers: tuple[Waiver, ...] = ()
    image_size_budget: int = 0  # bytes; 0: no budget (IMG-SIZE-BUDGET)
    budget_key: str = "policy.image_size_budget"  # the environment key that set it, for the finding's path


def settings_for(env) -> PolicySettings:
    """The settings of an environment (a config.Environment, read by attribute): its `policy:` section,
    and the image size budget from `policy.image_size_budget` (else the older `images.size_budget_mb`)."""
    p = env.policy
    budget, key = parse_size(p.image_size_budget, decimal=True) or 0, "policy.image_size_budget"
    if not p.image_size_budget and env.images.size_budget_mb:
        budget, key = int(env.images.size_budget_mb * 1_000_000), "images.size_budget_mb"
    return PolicySettings(
        level=p.level,
        rules=dict(p.rules),
        allow_registries=tuple(p.allow_registries),
        allowed_privileged_ports={k: tuple(v) for k, v in p.allowed_privileged_ports.items()},
        waivers=tuple(Waiver(w.rule, w.service, w.reason, w.expires) for w in p.waivers),
        image_size_budget=budget,
        budget_key=key,
    )


@dataclass(frozen=True)
class PolicyReport:
    """All findings (waived ones included) and the problems with the policy input itself."""

    findings: tuple[Finding, ...]
    problems: tuple[str, ...] = ()
    catalogue: tuple[Rule, ...] = RULES  # the rule section judged (SARIF lists it as the tool's rules)

    @property
    def blocking(self) -> bool:
        """True when an unwaived error or any problem (a bad waiver, override...) remains."""
        return bool(self.problems) or any(f.severity == "error" and not f.waived for f in self.findings)


@dataclass(frozen=True)
class Hit:
    """What a rule function reports; severity and texts are added from the catalogue.

    `mild` selects the lower tier of a two-tier rule (read-only sensitive mount, a
    capability from the warn list): one step below the rule's severity at the level.
    """

    rule: str
    path: str
    message: str
    mild: bool = False


@dataclass(frozen=True)
class ServiceView:
    """Everything a rule family needs to judge one service."""

    name: str
    service: Mapping
    model: Mapping
    settings: PolicySettings
    raw: Mapping | None = None
    image_facts: Mapping | None = None

    @property
    def base(self) -> str:
        return f"services.{self.name}"
