"""Levels, rule overrides, waivers, and the blocking verdict."""

import datetime

import pytest

from gantry.policy import RULES, PolicySettings, Waiver, severity_for
from gantry.policy.catalogue import RULES_BY_ID
from tests.policy_cases import HARDENED, TODAY, run

PRIVILEGED = {**HARDENED, "privileged": True}


def only(report, rule):
    return [f for f in report.findings if f.rule == rule]


def test_levels_catalogue_has_every_policy_md_rule():
    import re
    from pathlib import Path
    text = Path("/work/shared/POLICY.md")
    if not text.exists():
        pytest.skip("POLICY.md not available")
    ids = re.findall(r"^\| ([A-Z]+(?:-[A-Z]+)+) \|", text.read_text(), re.MULTILINE)
    assert sorted(ids) == sorted(r.id for r in RULES)


@pytest.mark.parametrize("rule,level,mild,want", [
    ("PRIV-PRIVILEGED", "prod", False, "error"),
    ("PRIV-PRIVILEGED", "lab", False, "warn"),
    ("PRIV-PRIVILEGED", "dev", False, "warn"),
    ("PRIV-PRIVILEGED", "local", False, "warn"),
    ("NS-HOST-UTS", "dev", False, "off"),
    ("NS-HOST-UTS", "lab", False, "warn"),
    ("MOUNT-HOST-SENSITIVE", "prod", True, "warn"),
    ("MOUNT-HOST-SENSITIVE", "lab", True, "warn"),
    ("MOUNT-HOST-SENSITIVE", "dev", True, "info"),
    ("CAP-ADD-DANGEROUS", "prod", True, "warn"),
    ("FS-READONLY-MISSING", "prod", False, "info"),
], ids=lambda v: str(v))
def test_levels_severity_for(rule, level, mild, want):
    assert severity_for(RULES_BY_ID[rule], PolicySettings(level=level), mild=mild) == want


@pytest.mark.parametrize("override,want", [
    ("error", ["error"]), ("warn", ["warn"]), ("info", ["info"]), ("off", []),
], ids=["error", "warn", "info", "off"])
def test_levels_rule_override(override, want):
    report = run(PRIVILEGED, rules={"PRIV-PRIVILEGED": override})
    assert [f.severity for f in only(report, "PRIV-PRIVILEGED")] == want


def test_levels_override_raises_dev_rule():
    report = run({"image": "a:1", "environment": {"DEBUG": "1"}}, level="dev", rules={"PROD-DEV-ARTIFACTS": "warn"})
    assert [f.severity for f in only(report, "PROD-DEV-ARTIFACTS")] == ["warn"]


@pytest.mark.parametrize("settings,problem", [
    ({"rules": {"NO-SUCH-RULE": "off"}}, "NO-SUCH-RULE: unknown rule id"),
    ({"rules": {"PRIV-PRIVILEGED": "fatal"}}, "'fatal' is not error, warn, info or off"),
    ({"level": "production"}, "policy level 'production'"),
], ids=["unknown-rule", "bad-severity", "bad-level"])
def test_levels_bad_settings_are_problems(settings, problem):
    report = run({"image": "a:1"}, **settings)
    assert report.blocking
    assert any(problem in p for p in report.problems), report.problems


def test_levels_hardened_service_is_clean():
    assert run(HARDENED).findings == ()


def test_levels_blocking_only_on_unwaived_error():
    assert run(PRIVILEGED).blocking
    assert not run(PRIVILEGED, level="lab").blocking
    waiver = Waiver("PRIV-PRIVILEGED", "s", "needs /dev access until the hardware vendor ships a driver")
    report = run(PRIVILEGED, waivers=(waiver,))
    assert not [p for p in report.problems]
    assert [f.rule for f in report.findings if f.severity == "error" and not f.waived] == []


WAIVERS = [
    ("valid", Waiver("PRIV-PRIVILEGED", "s", "vendor driver"), True, []),
    ("valid-until-today", Waiver("PRIV-PRIVILEGED", "s", "vendor driver", TODAY), True, []),
    ("valid-future", Waiver("PRIV-PRIVILEGED", "s", "r", TODAY + datetime.timedelta(days=30)), True, []),
    ("no-reason", Waiver("PRIV-PRIVILEGED", "s", ""), False, ["waiver PRIV-PRIVILEGED for service s: no reason given"]),
    ("blank-reason", Waiver("PRIV-PRIVILEGED", "s", "   "), False,
     ["waiver PRIV-PRIVILEGED for service s: no reason given"]),
    ("unknown-rule", Waiver("PRIV-PRIVILEDGED", "s", "typo"), False,
     ["waiver PRIV-PRIVILEDGED for service s: unknown rule id"]),
    ("expired", Waiver("PRIV-PRIVILEGED", "s", "r", TODAY - datetime.timedelta(days=1)), False,
     ["waiver PRIV-PRIVILEGED for service s: expired on 2026-02-28"]),
    ("other-service", Waiver("PRIV-PRIVILEGED", "web", "r"), False, []),
    ("other-rule", Waiver("USER-ROOT", "s", "r"), False, []),
]


@pytest.mark.parametrize("waiver,waived,problems", [c[1:] for c in WAIVERS], ids=[c[0] for c in WAIVERS])
def test_levels_waivers(waiver, waived, problems):
    report = run(PRIVILEGED, waivers=(waiver,))
    (finding,) = only(report, "PRIV-PRIVILEGED")
    assert finding.waived is waived
    assert finding.waiver_reason == (waiver.reason.strip() if waived else "")
    assert list(report.problems) == problems
    assert report.blocking is (not waived or bool(problems))


def test_levels_waived_findings_still_listed():
    report = run(PRIVILEGED, waivers=(Waiver("PRIV-PRIVILEGED", "s", "reason"),))
    assert len(only(report, "PRIV-PRIVILEGED")) == 1


def test_levels_waiver_covers_every_finding_of_rule_for_service():
    svc = {"image": "a:1", "cap_add": ["SYS_ADMIN", "SYS_MODULE"]}
    report = run(svc, waivers=(Waiver("CAP-ADD-DANGEROUS", "s", "kernel module loader"),))
    assert [f.waived for f in only(report, "CAP-ADD-DANGEROUS")] == [True, True]


def test_levels_findings_ordered_by_service_then_catalogue():
    from gantry.policy import check_policy
    model = {"services": {"zeta": {"image": "a", "privileged": True}, "alpha": {"image": "b:1", "pid": "host"}}}
    report = check_policy(model, model, PolicySettings(), today=TODAY)
    services = [f.service for f in report.findings]
    assert services == sorted(services, key=["zeta", "alpha"].index)
    order = {r.id: i for i, r in enumerate(RULES)}
    zeta = [order[f.rule] for f in report.findings if f.service == "zeta"]
    assert zeta == sorted(zeta)


def test_levels_input_model_not_mutated():
    import copy
    svc = {"image": "a", "volumes": ["/etc:/etc"], "ports": ["80:80"], "environment": ["DEBUG=1"]}
    before = copy.deepcopy(svc)
    run(svc)
    assert svc == before
