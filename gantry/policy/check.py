"""Run every rule family over every service, then apply levels, overrides and waivers."""

from __future__ import annotations

import datetime
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import replace

from gantry.policy import artifacts, images, mounts, ports, privilege, resources, runtime, secrets
from gantry.policy.catalogue import RULE_ORDER, RULES, RULES_BY_ID, Rule
from gantry.policy.findings import LEVELS, SEVERITIES, Finding, Hit, PolicyReport, PolicySettings, ServiceView
from gantry.policy.scalars import dig

FAMILIES = (privilege, mounts, images, ports, resources, runtime, artifacts, secrets)
_LOWER = {"error": "warn", "warn": "info", "info": "info", "off": "off"}


def check_policy(
    model: Mapping,
    raw_model: Mapping | None,
    settings: PolicySettings,
    *,
    today: datetime.date,
    image_facts: Mapping[str, Mapping] | None = None,
) -> PolicyReport:
    """Judge a merged compose model; see the package docstring for the arguments."""
    problems = _settings_problems(settings)
    services = model.get("services") or {}
    hits: list[tuple[str, Hit]] = []
    for name, service in services.items():
        if not isinstance(service, Mapping):
            continue
        raw = None  # without a raw model, SECRET-ENV-LITERAL cannot tell literals from variables
        if raw_model is not None:
            found = dig(raw_model, "services", name)
            raw = found if isinstance(found, Mapping) else {}
        facts = None
        if image_facts is not None and isinstance(service.get("image"), str):
            facts = image_facts.get(service["image"])
        view = ServiceView(str(name), service, model, settings, raw, facts)
        hits.extend((view.name, hit) for family in FAMILIES for hit in family.check(view))
    report = judge(hits, settings, today=today, order=[str(name) for name in services])
    return replace(report, problems=tuple(problems) + report.problems)


def judge(hits: Iterable[tuple[str, Hit]], settings: PolicySettings, *, today: datetime.date,
          order: Sequence[str] = (), catalogue: tuple[Rule, ...] = RULES) -> PolicyReport:
    """Hits of any rule section, per service or host: severities by level and override, then waivers.

    Findings are ordered by `order` (services or hosts as given), then by catalogue, then by path.
    Waiver problems are returned; the caller adds its own settings problems.
    """
    findings = [f for f in (_finding(s, h, settings) for s, h in hits) if f is not None]
    waived, waiver_problems = _apply_waivers(findings, settings, today)
    rank = {name: i for i, name in enumerate(order)}
    waived.sort(key=lambda f: (rank.get(f.service, len(rank)), RULE_ORDER[f.rule], f.path))
    return PolicyReport(tuple(waived), tuple(waiver_problems), catalogue)


def severity_for(rule: Rule, settings: PolicySettings, *, mild: bool = False) -> str:
    """The rule's severity at the settings' level (lower tier if `mild`), after overrides."""
    override = settings.rules.get(rule.id)
    if override in SEVERITIES or override == "off":
        return override
    if settings.level == "lab" and rule.lab:
        return _LOWER[rule.lab] if mild else rule.lab
    severity = rule.dev if settings.level in ("dev", "local") else rule.prod
    if mild:
        severity = _LOWER[severity]
    if settings.level == "lab" and severity == "error":
        severity = "warn"
    return severity


def _finding(service: str, hit: Hit, settings: PolicySettings) -> Finding | None:
    rule = RULES_BY_ID[hit.rule]
    severity = severity_for(rule, settings, mild=hit.mild)
    if severity == "off":
        return None
    return Finding(hit.rule, rule.title, service, hit.path, severity, hit.message, rule.why, rule.fix)


def _settings_problems(settings: PolicySettings) -> list[str]:
    problems = []
    if settings.level not in LEVELS:
        problems.append(f"policy level {settings.level!r} is not one of {', '.join(LEVELS)}")
    for rule_id, severity in settings.rules.items():
        if rule_id not in RULES_BY_ID:
            problems.append(f"policy rule override {rule_id}: unknown rule id")
        elif severity not in (*SEVERITIES, "off"):
            problems.append(f"policy rule override {rule_id}: {severity!r} is not error, warn, info or off")
    return problems


def _apply_waivers(
    findings: Iterable[Finding], settings: PolicySettings, today: datetime.date
) -> tuple[list[Finding], list[str]]:
    """Mark findings covered by a valid waiver; every invalid waiver is a problem and waives nothing."""
    valid: dict[tuple[str, str], str] = {}
    problems = []
    for waiver in settings.waivers:
        where = f"waiver {waiver.rule} for service {waiver.service}"
        if waiver.rule not in RULES_BY_ID:
            problems.append(f"{where}: unknown rule id")
        elif not waiver.reason.strip():
            problems.append(f"{where}: no reason given")
        elif waiver.expires is not None and waiver.expires < today:
            problems.append(f"{where}: expired on {waiver.expires.isoformat()}")
        else:
            valid[(waiver.rule, waiver.service)] = waiver.reason.strip()
    result = []
    for finding in findings:
        reason = valid.get((finding.rule, finding.service))
        if reason is not None:
            finding = replace(finding, waived=True, waiver_reason=reason)
        result.append(finding)
    return result, problems
