"""Rules over built images (IMG-SIZE-BUDGET, IMG-BUILD-TOOLS) in the one engine: levels, waivers, SARIF."""

import datetime
import json
from pathlib import Path

import jsonschema
import pytest

from gantry.policy import PolicySettings, Waiver, render_sarif, render_text, severity_for
from gantry.policy.built import BuiltImage, check_built
from gantry.policy.catalogue import BUILT_RULES, RULES_BY_ID

TODAY = datetime.date(2026, 12, 1)
SCHEMA = json.loads((Path(__file__).parent / "sarif-2.1.0.schema.json").read_text())
FAT = BuiltImage("web", "reg/web:1", "build", 60_000_000, ("a C compiler (gcc)", "make"))
SLIM = BuiltImage("api", "reg/api:1", "prod", 2_000_000)
BUDGET = PolicySettings(image_size_budget=50_000_000)


def found(images, settings):
    return [(f.rule, f.service, f.severity, f.waived) for f in check_built(images, settings, today=TODAY).findings]


@pytest.mark.parametrize("rule, level, want", [
    ("IMG-SIZE-BUDGET", "prod", "warn"), ("IMG-SIZE-BUDGET", "lab", "warn"), ("IMG-SIZE-BUDGET", "dev", "warn"),
    ("IMG-BUILD-TOOLS", "prod", "warn"), ("IMG-BUILD-TOOLS", "lab", "off"), ("IMG-BUILD-TOOLS", "local", "off"),
], ids=lambda v: str(v))
def test_policy_built_severity_by_level(rule, level, want):
    assert severity_for(RULES_BY_ID[rule], PolicySettings(level=level)) == want


@pytest.mark.parametrize("images, settings, want", [
    ([SLIM], BUDGET, []),
    ([FAT, SLIM], BUDGET, [("IMG-SIZE-BUDGET", "web", "warn", False), ("IMG-BUILD-TOOLS", "web", "warn", False)]),
    ([FAT], PolicySettings(), [("IMG-BUILD-TOOLS", "web", "warn", False)]),
    ([FAT], PolicySettings(level="dev", image_size_budget=50_000_000), [("IMG-SIZE-BUDGET", "web", "warn", False)]),
    ([FAT], PolicySettings(image_size_budget=50_000_000, rules={"IMG-SIZE-BUDGET": "error", "IMG-BUILD-TOOLS": "off"}),
     [("IMG-SIZE-BUDGET", "web", "error", False)]),
    ([FAT], PolicySettings(waivers=(Waiver("IMG-BUILD-TOOLS", "web", "debug image, ticket 7"),)),
     [("IMG-BUILD-TOOLS", "web", "warn", True)]),
    ([FAT], PolicySettings(waivers=(Waiver("IMG-BUILD-TOOLS", "api", "another service"),)),
     [("IMG-BUILD-TOOLS", "web", "warn", False)]),
], ids=["within-budget", "over-and-tools", "no-budget", "dev-keeps-budget-drops-tools", "overrides", "waived",
        "waiver-for-another-service"])
def test_policy_built_rules(images, settings, want):
    assert found(images, settings) == want


def test_policy_built_messages_and_paths():
    settings = PolicySettings(image_size_budget=50_000_000, budget_key="images.size_budget_mb")
    size, tools = check_built([FAT], settings, today=TODAY).findings
    assert (size.path, size.message) == ("images.size_budget_mb", "reg/web:1 is 60.0 MB, over the budget of 50 MB")
    assert (tools.path, tools.message) == ("services.web.build.target",
                                           "reg/web:1 (target build) contains a C compiler (gcc), make")
    assert check_built([FAT], BUDGET, today=TODAY).findings[0].path == "policy.image_size_budget"


def test_policy_built_report_renders_as_text_and_sarif():
    settings = PolicySettings(image_size_budget=50_000_000, waivers=(Waiver("IMG-BUILD-TOOLS", "web", "debug"),))
    report = check_built([FAT], settings, today=TODAY)
    text = render_text(report)
    assert "  warn   IMG-SIZE-BUDGET  policy.image_size_budget: reg/web:1 is 60.0 MB" in text
    assert "[waived: debug]" in text and text.endswith("policy: 0 errors, 1 warning, 0 info (1 waived): ok\n")
    sarif = json.loads(render_sarif(report, source_files=["environments/prod.yml"]))
    jsonschema.validate(sarif, SCHEMA)
    run = sarif["runs"][0]
    assert [r["id"] for r in run["tool"]["driver"]["rules"]] == [r.id for r in BUILT_RULES]
    assert [(r["ruleId"], "suppressions" in r) for r in run["results"]] == [("IMG-SIZE-BUDGET", False),
                                                                           ("IMG-BUILD-TOOLS", True)]
