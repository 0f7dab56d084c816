"""Render a PolicyReport as text (people), JSON (a list of findings) or SARIF 2.1.0 (code scanning)."""

from __future__ import annotations

import json
from collections.abc import Iterable, Sequence
from dataclasses import asdict
from urllib.parse import quote

from gantry.policy.catalogue import RULES_BY_ID
from gantry.policy.findings import Finding, PolicyReport

PROBLEM_RULE = "POLICY-PROBLEM"
SARIF_SCHEMA = "https://json.schemastore.org/sarif-2.1.0.json"
SARIF_LEVEL = {"error": "error", "warn": "warning", "info": "note"}
TOOL_NAME = "gantry-policy"


def summary(report: PolicyReport) -> str:
    """`policy: 1 error, 2 warnings, 0 info (1 waived), 1 problem: blocking`."""
    active = [f for f in report.findings if not f.waived]
    counts = {s: sum(1 for f in active if f.severity == s) for s in ("error", "warn", "info")}
    text = (f"policy: {counts['error']} error{'s' * (counts['error'] != 1)}, "
            f"{counts['warn']} warning{'s' * (counts['warn'] != 1)}, {counts['info']} info")
    waived = len(report.findings) - len(active)
    if waived:
        text += f" ({waived} waived)"
    if report.problems:
        text += f", {len(report.problems)} problem{'s' * (len(report.problems) != 1)}"
    return text + (": blocking" if report.blocking else ": ok")


def render_text(report: PolicyReport) -> str:
    """Findings grouped by service: severity, rule, path, message, then why and fix."""
    lines: list[str] = []
    services = list(dict.fromkeys(f.service for f in report.findings))
    for service in services:
        lines.append(f"{service}:")
        for f in (f for f in report.findings if f.service == service):
            mark = f" [waived: {f.waiver_reason}]" if f.waived else ""
            lines.append(f"  {f.severity:<5}  {f.rule}  {f.path}: {f.message}{mark}")
            lines.append(f"         why: {f.why}")
            lines.append(f"         fix: {f.fix}")
    if report.problems:
        lines.append("problems:")
        lines.extend(f"  error  {p}" for p in report.problems)
    lines.append(summary(report))
    return "\n".join(lines) + "\n"


def hint(fix: str) -> str:
    """A rule's fix as the hint of an error or warning line: `Do this.` -> `do this`."""
    return fix[:1].lower() + fix[1:].rstrip(".")


def grouped_lines(findings: Iterable[Finding]) -> list[str]:
    """One line per distinct finding, naming every service or host that has it, and its hint:
    `lab-1, lab-2: HOST-MAC-MISSING: <message>` + `\n  hint: <fix>` (the deploy prints each as a warning)."""
    groups: dict[tuple[str, str, str], list[str]] = {}
    for f in findings:
        groups.setdefault((f.rule, f.message, f.fix), []).append(f.service)
    return [f"{', '.join(names)}: {rule}: {message}\n  hint: {hint(fix)}"
            for (rule, message, fix), names in groups.items()]


def render_json(report: PolicyReport) -> str:
    """A JSON list: one object per finding; each problem is an entry with rule POLICY-PROBLEM."""
    entries = [asdict(f) for f in report.findings]
    entries.extend(
        asdict(Finding(PROBLEM_RULE, "Invalid policy input", "", "", "error", p,
                       "A bad waiver or override would silently change what is enforced.",
                       "Fix the waiver or override in the environment's policy settings."))
        for p in report.problems
    )
    return json.dumps(entries, indent=2) + "\n"


def _uri(path: str) -> str:
    path = path.replace("\\", "/")
    return f"file://{quote(path)}" if path.startswith("/") else quote(path)


def _sarif_rule(rule) -> dict:
    return {
        "id": rule.id,
        "name": "".join(word.capitalize() for word in rule.id.split("-")),
        "shortDescription": {"text": rule.title},
        "fullDescription": {"text": rule.why},
        "help": {"text": rule.fix},
        "defaultConfiguration": {"level": SARIF_LEVEL.get(rule.prod, "none")},
    }


def _sarif_result(f: Finding, artifacts: Sequence[str], index: dict[str, int]) -> dict:
    logical = {"fullyQualifiedName": f.path, "name": f.path.rsplit(".", 1)[-1], "kind": "member"}
    locations = [
        {"physicalLocation": {"artifactLocation": {"uri": uri, "index": i}}, "logicalLocations": [logical]}
        for i, uri in enumerate(artifacts)
    ] or [{"logicalLocations": [logical]}]
    result: dict = {
        "ruleId": f.rule,
        "ruleIndex": index[f.rule],
        "level": SARIF_LEVEL[f.severity],
        "message": {"text": f"{f.service}: {f.message}"},
        "locations": locations,
        "properties": {"service": f.service, "path": f.path, "severity": f.severity},
    }
    if f.waived:
        result["suppressions"] = [{"kind": "external", "status": "accepted", "justification": f.waiver_reason}]
    return result


def render_sarif(report: PolicyReport, *, source_files: Sequence[str]) -> str:
    """SARIF 2.1.0: the catalogue in tool.driver.rules, one result per finding, problems as notifications."""
    artifacts = [_uri(p) for p in source_files]
    rules = list(report.catalogue)
    rules += [RULES_BY_ID[rid] for rid in dict.fromkeys(f.rule for f in report.findings)
              if RULES_BY_ID[rid] not in rules]  # a report put together from several sections
    index = {r.id: i for i, r in enumerate(rules)}
    run: dict = {
        "tool": {"driver": {"name": TOOL_NAME, "rules": [_sarif_rule(r) for r in rules]}},
        "artifacts": [{"location": {"uri": uri}} for uri in artifacts],
        "invocations": [{
            "executionSuccessful": True,
            "toolConfigurationNotifications": [
                {"level": "error", "message": {"text": p}} for p in report.problems
            ],
        }],
        "results": [_sarif_result(f, artifacts, index) for f in report.findings],
    }
    return json.dumps({"$schema": SARIF_SCHEMA, "version": "2.1.0", "runs": [run]}, indent=2) + "\n"
