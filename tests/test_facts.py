"""Parsers of remote output, on output captured from Docker Engine 20.10 / Compose v2.40.3 lab hosts."""

import json
from pathlib import Path

import pytest

from gantry.engines.hosts.facts import (
    Preflight,
    parse_facts,
    parse_health_poll,
    parse_image_config,
    parse_image_digests,
    parse_inspect,
    parse_lock,
    parse_poll,
    parse_preflight,
    parse_ps,
    parse_timestamp,
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


def test_facts_health_poll_reads_inspect_json():
    text = ('--gantry:ps\n[{"Id":"a","Name":"/p-web-1","Config":{"Labels":{"com.docker.compose.service":"web"}},'
            '"State":{"Status":"running","Health":{"Status":"healthy"},"ExitCode":0},"RestartCount":2,'
            '"NetworkSettings":{"Ports":{"8080/tcp":[{"HostIp":"0.0.0.0","HostPort":"8080"},'
            '{"HostIp":"::","HostPort":"8080"}],"9000/udp":null}}}]\n--gantry:end\n')
    (web,) = parse_health_poll(text)
    assert web.restarts == 2 and web.published == (("0.0.0.0", 8080), ("::", 8080)) and web.health == "healthy"
    assert (web.name, web.service) == ("p-web-1", "web")


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


def _by_service(name: str) -> dict:
    from gantry.engines.hosts.facts import parse_inspect

    return {c.service: c for c in parse_inspect((CAPTURED / name).read_text())}


# (service, state, health, exit code, restarts) of each container of the two fixtures.
INSPECT_20_10 = [("web", "running", "healthy", 0, 0), ("worker", "running", "", 0, 0), ("plain", "running", "", 0, 0),
                 ("migrate", "exited", "", 0, 0), ("job", "exited", "", 3, 0), ("crash", "restarting", "", 1, 5)]
INSPECT_2X = [("api", "running", "healthy", 0, 0), ("cache", "running", "starting", 0, 0),
              ("search", "running", "unhealthy", 0, 0), ("worker", "running", "", 0, 0), ("cron", "running", "", 0, 0),
              ("migrate", "exited", "", 0, 0), ("seed", "exited", "", 2, 0), ("flaky", "restarting", "", 1, 4),
              ("zombie", "dead", "", 137, 0)]


@pytest.mark.parametrize("fixture, service, state, health, code, restarts",
                         [("container-inspect-docker20.10.json", *row) for row in INSPECT_20_10]
                         + [("container-inspect-docker2x-apidocs.json", *row) for row in INSPECT_2X],
                         ids=[f"20.10-{r[0]}" for r in INSPECT_20_10] + [f"2x-{r[0]}" for r in INSPECT_2X])
def test_facts_inspect_json_of_each_engine(fixture, service, state, health, code, restarts):
    """20.10 captured from the lab (no State.Health without a healthcheck); 26-28 shaped after the Engine API
    reference (State.Health absent or "none", ImageManifestDescriptor, dead containers)."""
    c = _by_service(fixture)[service]
    assert (c.state, c.health, c.exit_code, c.restarts) == (state, health, code, restarts)
    assert c.id and c.name and not c.name.startswith("/")


def test_facts_inspect_ports_and_broken_input():
    from gantry.engines.hosts.facts import parse_inspect

    assert _by_service("container-inspect-docker20.10.json")["web"].published == (("127.0.0.1", 18080),)
    assert _by_service("container-inspect-docker2x-apidocs.json")["api"].published == (("0.0.0.0", 8080),
                                                                                       ("::", 8080))
    # xargs may run docker inspect twice; a container removed meanwhile prints `[]`; stray text is skipped
    two = '[{"Id": "a", "Name": "/p-x-1", "State": null}]\n[]\nError: No such object: b\n[{"Id": "c"}]'
    assert [(c.id, c.state, c.service) for c in parse_inspect(two)] == [("c", "exited", ""), ("a", "exited", "")]


def test_facts_kill_events_name_containers_that_ignored_sigterm():
    from gantry.engines.hosts.facts import SlowStop, parse_kill_events

    lines = (CAPTURED / "kill-events-docker20.10.txt").read_text().splitlines()
    assert parse_kill_events(lines, 1796120000) == (SlowStop("stubborn", "cap-ign"),)
    assert parse_kill_events(lines, 1796120023) == ()  # its SIGTERM came before this up began


def _check_text(compose: str, env: str, manifest: str | None, rid: str, drop: str = "", digest: str = "") -> str:
    from gantry.release import sha256_text

    sums = [f"{sha256_text(text)}  /srv/r/{rid}/{name}" for name, text in (("compose.yaml", compose), (".env", env))
            if name != drop]
    return "\n".join(["--gantry:sums", *sums, "--gantry:env-digest", *([digest] if digest else []),
                      "--gantry:manifest", *([manifest] if manifest else []),
                      "--gantry:compose", *compose.splitlines(), "--gantry:verify-end"])


@pytest.mark.parametrize("change, problem", [
    ({}, ""),
    ({"drop": ".env"}, ".env is missing"),
    ({"drop": "compose.yaml"}, "compose.yaml is missing"),
    ({"manifest": None}, "manifest.json is missing"),
    ({"manifest": "{oops"}, "manifest.json is not valid JSON"),
    ({"compose": "services: {x: {}}\n"}, "compose.yaml does not match"),
    ({"env": "A='2'\n"}, ".env does not match"),
    ({"env": "A='2'\n", "keyed": True}, ".env does not match its digest"),
    ({"keyed": True}, ""),
    ({"keyed": True, "no-digest": True}, ".env does not match the content hash"),
], ids=["complete", "no-env", "no-compose", "no-manifest", "bad-manifest", "compose-altered", "env-altered",
        "keyed-env-altered", "keyed-complete", "keyed-without-digest-file"])
def test_facts_release_check(change, problem):
    import datetime

    from gantry.engines.hosts.facts import parse_release_check
    from gantry.release import make_release, render_manifest

    rel = make_release(environment="lab", project="p", compose_yaml="services: {}\n", env_file="A='1'\n", sources=(),
                       images={}, secret_fingerprints={}, git_commit="", who="t",
                       now=datetime.datetime(2026, 1, 1, tzinfo=datetime.timezone.utc),
                       key=b"k" * 32 if change.get("keyed") else b"")
    manifest = change.get("manifest", render_manifest(rel.manifest).replace("\n", " "))
    digest = "" if change.get("no-digest") else rel.files()[".env.sha256"][0].decode().strip()
    text = _check_text(change.get("compose", rel.compose_yaml), change.get("env", rel.env_file), manifest, rel.id,
                       change.get("drop", ""), digest)
    check = parse_release_check(text, rel.id)
    assert [p for p in check.problems if problem and problem in p] or (not problem and not check.problems), \
        check.problems


@pytest.mark.parametrize("value, seconds", [
    ("2026-12-01T10:12:49.309462741Z", 1796119969.309462741),
    ("2026-12-01T10:12:49Z", 1796119969.0),
    ("2026-12-01T11:12:49.5+01:00", 1796119969.5),
    ("0001-01-01T00:00:00Z", 0.0),  # Docker's zero time: never started
    ("", 0.0),
    (None, 0.0),
    ("yesterday", 0.0),
], ids=["nanoseconds", "whole-seconds", "offset", "zero-time", "empty", "absent", "garbage"])
def test_facts_parse_timestamp(value, seconds):
    assert parse_timestamp(value) == pytest.approx(seconds, abs=1e-6)


def test_facts_started_at_from_captured_inspect():
    found = parse_inspect((CAPTURED / "container-inspect-docker20.10.json").read_text())
    assert found and all(c.started_at > 1.7e9 for c in found if c.state == "running")


@pytest.mark.parametrize("text, host_now, count", [
    ("--gantry:now\n1796119969.25\n--gantry:ps\n[]\n--gantry:end\n", 1796119969.25, 0),
    ("--gantry:now\n1796119969.%N\n--gantry:ps\n[]\n--gantry:end\n", None, 0),  # a date without %N
    ("--gantry:ps\n[{\"Id\": \"abc\", \"State\": {\"Status\": \"running\"}}]\n--gantry:end\n", None, 1),
    ("--gantry:up-done\n", "absent", 0),
], ids=["clock-and-containers", "unreadable-clock", "no-clock", "no-poll"])
def test_facts_parse_poll(text, host_now, count):
    poll = parse_poll(text)
    if host_now == "absent":
        assert poll is None
        return
    assert poll.host_now == host_now and len(poll.containers) == count
