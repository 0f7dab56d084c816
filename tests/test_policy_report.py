"""Text, JSON and SARIF renderings: same findings in each; SARIF valid against the 2.1.0 schema."""

import json
import re
from pathlib import Path

import jsonschema
import pytest

from gantry.policy import RULES, PolicyReport, Waiver, render_json, render_sarif, render_text, summary
from tests.policy_cases import HARDENED, run

SCHEMA = json.loads((Path(__file__).parent / "sarif-2.1.0.schema.json").read_text())
FILES = ["compose/docker-compose.yml", "compose/docker-compose.prod.yml"]


@pytest.fixture
def report() -> PolicyReport:
    svc = {**HARDENED, "privileged": True, "image": "nginx", "ports": ["8080:80"],
           "volumes": ["/etc:/etc:ro"], "read_only": False}
    return run(svc, waivers=(Waiver("PORT-HOST-WILDCARD", "s", "behind the host firewall"),
                             Waiver("USER-ROOT", "s", "")))


def keys(findings):
    return sorted((f["rule"], f["service"], f["path"], f["severity"], f["waived"]) for f in findings)


def test_report_fixture_has_every_severity_and_a_waiver(report):
    assert {f.severity for f in report.findings} == {"error", "warn", "info"}
    assert any(f.waived for f in report.findings)
    assert report.problems == ("waiver USER-ROOT for service s: no reason given",)


def test_report_text_lines_and_summary(report):
    text = render_text(report)
    lines = text.splitlines()
    assert lines[0] == "s:"
    assert "  error  PRIV-PRIVILEGED  services.s.privileged: privileged: true" in lines
    assert any(line.startswith("         why: A privileged container") for line in lines)
    assert any(line.startswith("         fix: Remove `privileged`") for line in lines)
    assert any("PORT-HOST-WILDCARD" in line and "[waived: behind the host firewall]" in line for line in lines)
    assert "problems:" in lines
    assert lines[-1] == summary(report)
    assert lines[-1] == "policy: 2 errors, 1 warning, 1 info (1 waived), 1 problem: blocking"


def test_report_text_clean():
    assert render_text(run(HARDENED)) == "policy: 0 errors, 0 warnings, 0 info: ok\n"


def test_report_json_is_list_with_required_fields(report):
    data = json.loads(render_json(report))
    assert isinstance(data, list)
    for entry in data:
        assert {"rule", "service", "path", "severity", "message", "waived"} <= entry.keys()
    findings = [e for e in data if e["rule"] != "POLICY-PROBLEM"]
    problems = [e for e in data if e["rule"] == "POLICY-PROBLEM"]
    assert keys(findings) == keys(f.__dict__ for f in report.findings)
    assert [p["message"] for p in problems] == list(report.problems)


def test_report_sarif_validates_against_schema(report):
    data = json.loads(render_sarif(report, source_files=FILES))
    jsonschema.validate(data, SCHEMA)


def test_report_sarif_validates_without_files_or_findings():
    jsonschema.validate(json.loads(render_sarif(run(HARDENED), source_files=[])), SCHEMA)


def test_report_sarif_matches_findings(report):
    run_ = json.loads(render_sarif(report, source_files=FILES))["runs"][0]
    assert [r["id"] for r in run_["tool"]["driver"]["rules"]] == [r.id for r in RULES]
    results = run_["results"]
    level = {"error": "error", "warning": "warn", "note": "info"}
    got = sorted((r["ruleId"], r["properties"]["service"], r["locations"][0]["logicalLocations"][0]
                  ["fullyQualifiedName"], level[r["level"]], "suppressions" in r) for r in results)
    assert got == keys(f.__dict__ for f in report.findings)
    for r in results:
        assert run_["tool"]["driver"]["rules"][r["ruleIndex"]]["id"] == r["ruleId"]
        assert [loc["physicalLocation"]["artifactLocation"]["uri"] for loc in r["locations"]] == FILES
    waived = [r for r in results if "suppressions" in r]
    assert waived[0]["suppressions"][0]["justification"] == "behind the host firewall"
    notes = run_["invocations"][0]["toolConfigurationNotifications"]
    assert [n["message"]["text"] for n in notes] == list(report.problems)


@pytest.mark.parametrize("path,uri", [
    ("compose/docker-compose.yml", "compose/docker-compose.yml"),
    ("/srv/my app/compose.yml", "file:///srv/my%20app/compose.yml"),
    ("compose\\win.yml", "compose/win.yml"),
], ids=["relative", "absolute-with-space", "backslash"])
def test_report_sarif_uris(path, uri):
    data = json.loads(render_sarif(run(HARDENED), source_files=[path]))
    assert data["runs"][0]["artifacts"][0]["location"]["uri"] == uri
    jsonschema.validate(data, SCHEMA)


def test_report_text_json_sarif_carry_same_findings(report):
    text = render_text(report)
    text_keys = sorted(re.findall(r"^  (error|warn|info)\s+(\S+)  (\S+):", text, re.MULTILINE))
    json_keys = sorted((e["severity"], e["rule"], e["path"]) for e in json.loads(render_json(report))
                       if e["rule"] != "POLICY-PROBLEM")
    level = {"error": "error", "warning": "warn", "note": "info"}
    sarif = json.loads(render_sarif(report, source_files=FILES))["runs"][0]["results"]
    sarif_keys = sorted((level[r["level"]], r["ruleId"], r["properties"]["path"]) for r in sarif)
    assert text_keys == json_keys == sarif_keys
