"""Vulnerability scan reports (Trivy, Grype) -> findings at or above a severity threshold. Pure.

The scanner runs on the machine that deploys, when one is installed (the CLI looks for it); this
module builds its argv and reads its documented JSON output:
- Trivy `trivy image --format json`: `Results[].Vulnerabilities[]` with `VulnerabilityID`,
  `PkgName`, `InstalledVersion`, `FixedVersion`, `Severity` (UNKNOWN, LOW, MEDIUM, HIGH, CRITICAL).
- Grype `grype -o json`: `matches[]` with `vulnerability.{id, severity, fix.versions}` and
  `artifact.{name, version}` (Negligible, Low, Medium, High, Critical, Unknown).
"""

from __future__ import annotations

import json
from dataclasses import dataclass

SEVERITY_ORDER = ("UNKNOWN", "NEGLIGIBLE", "LOW", "MEDIUM", "HIGH", "CRITICAL")
SCANNERS = ("trivy", "grype")


@dataclass(frozen=True)
class Vulnerability:
    image: str
    id: str
    package: str
    installed: str
    fixed: str
    severity: str


def rank(severity: str) -> int:
    sev = severity.upper()
    return SEVERITY_ORDER.index(sev) if sev in SEVERITY_ORDER else 0


def scan_argv(scanner: str, image: str) -> tuple[str, ...]:
    if scanner == "trivy":
        return ("trivy", "image", "--quiet", "--format", "json", image)
    if scanner == "grype":
        return ("grype", "-q", "-o", "json", image)
    raise ValueError(f"unknown scanner {scanner}")


def parse_report(scanner: str, image: str, text: str) -> list[Vulnerability]:
    data = json.loads(text or "{}")
    out: list[Vulnerability] = []
    if scanner == "trivy":
        for result in data.get("Results") or []:
            for v in result.get("Vulnerabilities") or []:
                out.append(Vulnerability(image, v.get("VulnerabilityID", ""), v.get("PkgName", ""),
                                         v.get("InstalledVersion", ""), v.get("FixedVersion", ""),
                                         str(v.get("Severity", "UNKNOWN")).upper()))
    else:
        for m in data.get("matches") or []:
            vuln, art = m.get("vulnerability") or {}, m.get("artifact") or {}
            fixed = ", ".join((vuln.get("fix") or {}).get("versions") or [])
            out.append(Vulnerability(image, vuln.get("id", ""), art.get("name", ""), art.get("version", ""), fixed,
                                     str(vuln.get("severity", "Unknown")).upper()))
    return out


def at_or_above(vulns: list[Vulnerability], threshold: str) -> list[Vulnerability]:
    limit = rank(threshold)
    return sorted((v for v in vulns if rank(v.severity) >= limit), key=lambda v: (-rank(v.severity), v.id))
