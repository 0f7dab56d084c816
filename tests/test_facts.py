"""Parsers of remote output, on output captured from Docker Engine 20.10 / Compose v2.40.3 lab hosts."""

import json
from pathlib import Path

import pytest

from gantry.facts import (
    Preflight,
    parse_facts,
    parse_health_poll,
    parse_image_config,
    parse_image_digests,
    parse_lock,
    parse_preflight,
    parse_ps,
)
from gantry.policy.host import check_host

CAPTURED = Path(__file__).resolve().parent / "captured"
DIGEST = "10.231.47.1:5000/gantry-example/web@sha256:469a945f30f6c031087bfbdbc6371a4313d867b35af4656cdd8b676da5d52aec"


def test_facts_preflight_from_captured_output():
    pre = parse_preflight((CAPTURED / "preflight-docker20.10-compose2.40.3.txt").read_text())
    assert pre == Preflight(('name=seccomp,profile=default',), "20.10.24+dfsg1", "2.40.3", 82208352)
    assert pre.confinement == ("seccomp",)


@pytest.mark.parametrize("level, severity", [("prod", "error"), ("lab", "warn"), ("dev", "warn")],
                         ids=["prod-blocks", "lab-warns", "dev-warns"])
def test_facts_missing_apparmor_judged_by_level(level, severity):
    pre = parse_preflight((CAPTURED / "preflight-docker20.10-compose2.40.3.txt").read_text())
    found = check_host("h1", pre, level)
    assert [(f.rule, f.severity) for f in found] == [("HOST-MAC-MISSING", severity)]


@pytest.mark.parametrize("pre, rule", [
    (Preflight(("name=apparmor", "name=seccomp,profile=default"), "19.03.1", "2.40.3", 10**8), "HOST-ENGINE-VERSION"),
    (Preflight(("name=apparmor", "name=seccomp,profile=default"), "24.0.7", "", 10**8), "HOST-COMPOSE-VERSION"),
    (Preflight(("name=apparmor", "name=seccomp,profile=default"), "24.0.7", "2.40.3", 1000), "HOST-DISK-LOW"),
    (Preflight(("name=selinux",), "24.0.7", "2.40.3", 10**8), "HOST-SECCOMP-MISSING"),
], ids=["old-engine", "no-compose", "disk-low", "no-seccomp"])
def test_facts_host_checks(pre, rule):
    assert [f.rule for f in check_host("h", pre, "prod")] == [rule]


def test_facts_confined_host_passes():
    pre = Preflight(("name=apparmor", "name=seccomp,profile=default", "name=cgroupns"), "24.0.7", "2.29.1", 10**8)
    assert check_host("h", pre, "prod") == []


def test_facts_image_digests_from_captured_inspect():
    lines = (CAPTURED / "image-inspect-docker20.10.txt").read_text().splitlines()
    ref = "10.231.47.1:5000/gantry-example/web:1.0.0"
    assert parse_image_digests(lines, [ref, "other/x:1"]) == {ref: DIGEST}


def test_facts_ps_both_compose_output_shapes():
    line = ('{"ID":"abc","Name":"p-web-1","Service":"web","State":"running","Health":"healthy","ExitCode":0}\n'
            '{"ID":"def","Name":"p-worker-1","Service":"worker","State":"exited","Health":"","ExitCode":137}\n')
    as_lines = parse_ps(line)
    as_array = parse_ps("[" + ",".join(line.strip().splitlines()) + "]")
    assert as_lines == as_array and [c.exit_code for c in as_lines] == [0, 137]


def test_facts_sections_and_lock():
    text = ("--gantry:current\nreleases/20260101T000000Z-abcdefabcd\n--gantry:releases\n"
            "20260101T000000Z-abcdefabcd\n.incoming-x\n--gantry:lock\n"
            '{"holder":"ann@ci","since":"2026-01-01T00:00:00+00:00","release":"R2"}\n--gantry:ps\n--gantry:end\n')
    facts = parse_facts(text)
    assert facts.current == "20260101T000000Z-abcdefabcd" and facts.current_hash == "abcdefabcd"
    assert facts.releases == ("20260101T000000Z-abcdefabcd",)  # an unfinished upload is not a release
    assert facts.lock.holder == "ann@ci" and not facts.locked_by_us
    assert parse_lock("not json").raw == "not json"


def test_facts_host_rule_override_lowers_or_silences():
    pre = parse_preflight((CAPTURED / "preflight-docker20.10-compose2.40.3.txt").read_text())
    assert [f.severity for f in check_host("h", pre, "prod", overrides={"HOST-MAC-MISSING": "warn"})] == ["warn"]
    assert check_host("h", pre, "prod", overrides={"HOST-MAC-MISSING": "off"}) == []


def test_facts_health_poll_reads_inspect_lines():
    text = ('--gantry:ps\n{"ID":"a","Name":"p-web-1","Service":"web","State":"running","Health":"healthy",'
            '"ExitCode":0,"RestartCount":2,"Ports":{"8080/tcp":[{"HostIp":"0.0.0.0","HostPort":"8080"},'
            '{"HostIp":"::","HostPort":"8080"}],"9000/udp":null}}\n--gantry:end\n')
    (web,) = parse_health_poll(text)
    assert web.restarts == 2 and web.published == (("0.0.0.0", 8080), ("::", 8080)) and web.health == "healthy"


def test_facts_docker_ps_format_from_captured_output():
    rows = parse_ps((CAPTURED / "docker-ps-format-docker20.10.txt").read_text())
    web = next(c for c in rows if c.service == "web")
    assert (web.state, web.health, web.exit_code) == ("running", "healthy", 0)
    assert web.published == (("0.0.0.0", 8080), ("::", 8080))


@pytest.mark.parametrize("status, health, code", [
    ("Up 2 seconds (health: starting)", "starting", 0), ("Up 3 minutes (unhealthy)", "unhealthy", 0),
    ("Exited (137) 5 seconds ago", "", 137), ("Up 10 seconds", "", 0)],
    ids=["starting", "unhealthy", "exited", "no-healthcheck"])
def test_facts_docker_ps_status_text(status, health, code):
    row = {"ID": "x", "Name": "n", "Service": "s", "State": "running", "Status": status, "Ports": ""}
    (c,) = parse_ps(json.dumps(row))
    assert (c.health, c.exit_code) == (health, code)


def test_facts_image_config_from_captured_inspect():
    lines = (CAPTURED / "image-config-docker20.10.txt").read_text().splitlines()
    web, api = "10.231.47.1:5000/gantry-example/web:1.0.0", "registry.example.com/app/api:2.1"
    facts = parse_image_config(lines, [web, api, "absent/x:1"])
    assert facts[web] == {"Config": {"User": "", "Healthcheck": None}}
    assert facts[api]["Config"]["User"] == "app:app" and facts[api]["Config"]["Healthcheck"]["Test"][0] == "CMD"
    assert "absent/x:1" not in facts
