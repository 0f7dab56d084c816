"""Production policy, one engine: model rules (POLICY.md), host rules, rules over built images.

Every rule is in `catalogue` (id, texts, a severity per level); `check.judge` turns any rule's hits
into findings with levels, overrides and waivers; `report` renders any report as text, JSON or SARIF.
The host rules (`host.check_hosts`, `host.preflight_verdict`) judge a host's Preflight at deploy time;
the built-image rules (`built.check_built`) judge what `gantry build` read of its images.

API of the model check:

    check_policy(model, raw_model, settings, *, today, image_facts=None) -> PolicyReport
        model       the merged, interpolated model, shaped like `docker compose config --format json`
                    (un-normalised short forms are read too: short ports/volumes, string booleans,
                    `=` security_opt, `cap_` prefixes, `512m` sizes, list environments).
        raw_model   the same files merged with `--no-interpolate`; only SECRET-ENV-LITERAL reads it.
                    None skips that rule (an interpolated value cannot be told from a literal).
        settings    PolicySettings: level (prod | lab | dev | local), per-rule overrides
                    (error | warn | info | off), registry allow-list (empty = IMG-REGISTRY-UNTRUSTED
                    does not run), privileged ports allowed per service, waivers.
        today       compared with waiver expiry dates (a waiver is valid through its expiry day).
        image_facts optional {image reference: `docker image inspect` object}; with it USER-ROOT
                    and HEALTHCHECK-MISSING also judge Config.User / Config.Healthcheck when the
                    compose file leaves them out. Without it, absent `user` is not reported and an
                    absent healthcheck is.

    Levels: prod uses the catalogue's prod column; lab the prod column with error lowered to
    warn; dev and local the dev column. Two-tier rules (MOUNT-HOST-SENSITIVE read-only,
    CAP-ADD-DANGEROUS warn list) report one step lower. Overrides replace the result.

    PolicyReport.findings includes waived findings (marked `waived`); `problems` lists invalid
    settings: a waiver with no reason, for an unknown rule, or expired; an unknown override.
    `blocking` is true on any unwaived error or any problem.

    render_text(report), render_json(report) (a JSON list; problems appear as entries with rule
    POLICY-PROBLEM), render_sarif(report, source_files=[...]) (SARIF 2.1.0).
"""

from gantry.policy.catalogue import RULES, RULES_BY_ID, Rule
from gantry.policy.check import check_policy, severity_for
from gantry.policy.findings import Finding, PolicyReport, PolicySettings, Waiver, settings_for
from gantry.policy.images import ImageRef, parse_image
from gantry.policy.report import render_json, render_sarif, render_text, summary

__all__ = [
    "RULES",
    "RULES_BY_ID",
    "Finding",
    "ImageRef",
    "PolicyReport",
    "PolicySettings",
    "Rule",
    "Waiver",
    "check_policy",
    "parse_image",
    "render_json",
    "render_sarif",
    "render_text",
    "settings_for",
    "severity_for",
    "summary",
]
