"""Host rules as rules of the one policy engine: levels, overrides, waivers by host, text/JSON/SARIF."""

import datetime
import json
from pathlib import Path

import jsonschema
import pytest

from gantry.errors import PreflightError
from gantry.policy import PolicySettings, Waiver, render_json, render_sarif, render_text, severity_for
from gantry.policy.catalogue import HOST_RULES, RULES_BY_ID
from gantry.policy.host import Preflight, check_hosts, preflight_verdict

TODAY = datetime.date(2026, 12, 1)
SCHEMA = json.loads((Path(__file__).parent / "sarif-2.1.0.schema.json").read_text())
GOOD = Preflight(("name=apparmor", "name=seccomp,profile=default"), "24.0.7", "2.40.3", 10**8)
NO_MAC = Preflight(("name=seccomp,profile=default",), "24.0.7", "2.40.3", 10**8)
FULL = Preflight(("name=apparmor", "name=seccomp,profile=default"), "24.0.7", "2.40.3", 1000)


@pytest.mark.parametrize("rule, level, want", [
    ("HOST-MAC-MISSING", "prod", "error"), ("HOST-MAC-MISSING", "lab", "warn"), ("HOST-MAC-MISSING", "dev", "warn"),
    ("HOST-MAC-MISSING", "local", "warn"), ("HOST-SECCOMP-MISSING", "lab", "warn"),
    ("HOST-ENGINE-VERSION", "lab", "error"), ("HOST-ENGINE-VERSION", "dev", "error"),
    ("HOST-COMPOSE-VERSION", "local", "error"), ("HOST-DISK-LOW", "lab", "error"),
], ids=lambda v: str(v))
def test_policy_host_severity_by_level(rule, level, want):
    """Confinement follows the level; a host Gantry cannot deploy to is an error at every level."""
    assert severity_for(RULES_BY_ID[rule], PolicySettings(level=level)) == want


def test_policy_host_rules_are_in_the_catalogue_with_texts():
    assert [r.id for r in HOST_RULES] == ["HOST-MAC-MISSING", "HOST-SECCOMP-MISSING", "HOST-ENGINE-VERSION",
                                          "HOST-COMPOSE-VERSION", "HOST-DISK-LOW", "HOST-PROJECT-RENAMED"]
    assert all(RULES_BY_ID[r.id] is r and r.title and r.why and r.fix for r in HOST_RULES)


@pytest.mark.parametrize("waiver, waived, problem", [
    (Waiver("HOST-MAC-MISSING", "h1", "no AppArmor on this kernel, ticket OPS-12"), [True, False], ()),
    (Waiver("HOST-MAC-MISSING", "h1", "old", datetime.date(2026, 11, 30)), [False, False],
     ("waiver HOST-MAC-MISSING for service h1: expired on 2026-11-30",)),
    (Waiver("HOST-MAC-MISSING", "h1", " "), [False, False],
     ("waiver HOST-MAC-MISSING for service h1: no reason given",)),
    (Waiver("HOST-MAC-MISSING", "h9", "another host"), [False, False], ()),
], ids=["waives-its-host-only", "expired", "no-reason", "other-host"])
def test_policy_host_waiver_names_the_host(waiver, waived, problem):
    report = check_hosts({"h1": NO_MAC, "h2": NO_MAC}, PolicySettings(waivers=(waiver,)), today=TODAY)
    assert [(f.service, f.waived) for f in report.findings] == list(zip(["h1", "h2"], waived))
    assert report.problems == problem


def test_policy_host_verdict_errors_per_host_and_one_warning_for_all():
    errors, warnings = preflight_verdict({"h1": NO_MAC, "h2": NO_MAC, "h3": FULL}, PolicySettings(level="lab"),
                                         today=TODAY)
    assert [(type(e), e.host, e.what) for e in errors] == [
        (PreflightError, "h3", "HOST-DISK-LOW: only 0 MiB free under the deploy path")]
    assert errors[0].hint == "free disk space (old images: docker image prune) or raise the volume"
    assert warnings == ["h1, h2: HOST-MAC-MISSING: the Docker daemon runs without AppArmor or SELinux (security "
                        "options: seccomp)\n  hint: enable AppArmor (Debian/Ubuntu) or SELinux (RHEL) on the host "
                        "and restart dockerd"]


@pytest.mark.parametrize("settings, errors, warnings", [
    (PolicySettings(), ["h1"], 0),
    (PolicySettings(rules={"HOST-MAC-MISSING": "warn"}), [], 1),
    (PolicySettings(rules={"HOST-MAC-MISSING": "info"}), [], 0),
    (PolicySettings(waivers=(Waiver("HOST-MAC-MISSING", "h1", "accepted"),)), [], 0),
], ids=["prod-blocks", "lowered", "info-is-silent", "waived-is-silent"])
def test_policy_host_verdict_follows_overrides_and_waivers(settings, errors, warnings):
    found, said = preflight_verdict({"h1": NO_MAC, "h2": GOOD}, settings, today=TODAY)
    assert [e.host for e in found] == errors and len(said) == warnings


def test_policy_host_report_renders_as_text_json_and_sarif():
    settings = PolicySettings(waivers=(Waiver("HOST-MAC-MISSING", "h2", "kernel without LSM"),))
    report = check_hosts({"h1": NO_MAC, "h2": NO_MAC}, settings, today=TODAY)
    text = render_text(report).splitlines()
    assert text[0] == "h1:" and "  error  HOST-MAC-MISSING  engine.security_options: the Docker daemon runs without " \
        "AppArmor or SELinux (security options: seccomp)" in text
    assert any("[waived: kernel without LSM]" in line for line in text)
    assert text[-1] == "policy: 1 error, 0 warnings, 0 info (1 waived): blocking"
    assert [(e["service"], e["waived"]) for e in json.loads(render_json(report))] == [("h1", False), ("h2", True)]
    sarif = json.loads(render_sarif(report, source_files=["environments/prod.yml"]))
    jsonschema.validate(sarif, SCHEMA)
    run = sarif["runs"][0]
    assert [r["id"] for r in run["tool"]["driver"]["rules"]] == [r.id for r in HOST_RULES]
    assert [run["tool"]["driver"]["rules"][r["ruleIndex"]]["id"] for r in run["results"]] == ["HOST-MAC-MISSING"] * 2
    assert "suppressions" in run["results"][1] and "suppressions" not in run["results"][0]


def test_policy_host_model_check_accepts_host_overrides_and_waivers():
    """`policy.rules` and `policy.waivers` may name host rules: the model check no longer calls them unknown."""
    from tests.policy_cases import HARDENED, run

    report = run(HARDENED, rules={"HOST-MAC-MISSING": "warn"}, waivers=(Waiver("HOST-DISK-LOW", "h1", "small disk"),))
    assert report.problems == () and not report.blocking
