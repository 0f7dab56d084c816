"""Scanner reports in the JSON shapes Trivy and Grype document."""

import json

import pytest

from gantry.policy.scan import at_or_above, parse_report, scan_argv

TRIVY = {
    "SchemaVersion": 2, "ArtifactName": "r/web:1", "ArtifactType": "container_image",
    "Results": [
        {"Target": "r/web:1 (alpine 3.19.1)", "Class": "os-pkgs", "Type": "alpine", "Vulnerabilities": [
            {"VulnerabilityID": "CVE-2024-0001", "PkgName": "openssl", "InstalledVersion": "3.1.4-r5",
             "FixedVersion": "3.1.4-r6", "Severity": "CRITICAL"},
            {"VulnerabilityID": "CVE-2024-0002", "PkgName": "busybox", "InstalledVersion": "1.36.1-r15",
             "FixedVersion": "", "Severity": "MEDIUM"}]},
        {"Target": "app/requirements.txt", "Class": "lang-pkgs", "Type": "pip"},
    ],
}
GRYPE = {
    "matches": [
        {"vulnerability": {"id": "GHSA-xxxx", "severity": "High", "fix": {"versions": ["2.0.1"], "state": "fixed"}},
         "artifact": {"name": "requests", "version": "2.0.0", "type": "python"}},
        {"vulnerability": {"id": "CVE-2023-9", "severity": "Negligible", "fix": {"versions": [], "state": "not-fixed"}},
         "artifact": {"name": "tzdata", "version": "2023c", "type": "deb"}},
    ],
    "source": {"type": "image", "target": {"userInput": "r/web:1"}},
}


@pytest.mark.parametrize("scanner, doc, threshold, ids", [
    ("trivy", TRIVY, "CRITICAL", ["CVE-2024-0001"]),
    ("trivy", TRIVY, "MEDIUM", ["CVE-2024-0001", "CVE-2024-0002"]),
    ("grype", GRYPE, "HIGH", ["GHSA-xxxx"]),
    ("grype", GRYPE, "CRITICAL", []),
    ("grype", GRYPE, "LOW", ["GHSA-xxxx"]),
], ids=["trivy-critical", "trivy-medium", "grype-high", "grype-critical", "grype-negligible-below-low"])
def test_scan_threshold(scanner, doc, threshold, ids):
    found = at_or_above(parse_report(scanner, "r/web:1", json.dumps(doc)), threshold)
    assert [v.id for v in found] == ids


def test_scan_fields_carried():
    v = parse_report("grype", "r/web:1", json.dumps(GRYPE))[0]
    assert (v.package, v.installed, v.fixed, v.severity) == ("requests", "2.0.0", "2.0.1", "HIGH")


def test_scan_argv_is_a_word_list():
    assert scan_argv("trivy", "r/web:1")[-1] == "r/web:1" and scan_argv("grype", "a b")[-1] == "a b"
