"""Parsers of the day-2 reads' output: the audit part, the live release's files, the last health checks."""

import pytest

from gantry.engines.hosts import readouts
from gantry.engines.hosts.facts import split_sections


@pytest.mark.parametrize("text,want", [
    ("--gantry:current\nR1\n--gantry:end\n--gantry:audit\n{\"a\":1}\n", "\n{\"a\":1}\n"),
    ("--gantry:audit\n", "\n"),
    ("no marker\n", "no marker\n"),
], ids=["after-marker", "empty-log", "no-marker"])
def test_readouts_audit_part_is_what_follows_the_marker(text, want):
    assert readouts.audit_part(text) == want


@pytest.mark.parametrize("text,want", [
    ("--gantry:live-compose\nservices:\n  web: {}\n--gantry:live-manifest\n{\"id\": \"R1\"}\n--gantry:live-end\n",
     ("services:\n  web: {}\n", {"id": "R1"})),
    ("--gantry:live-compose\n--gantry:live-manifest\n--gantry:live-end\n", ("", {})),
    ("--gantry:live-compose\nx: 1\n--gantry:live-manifest\n{not json\n--gantry:live-end\n", ("x: 1\n", {})),
    ("--gantry:live-compose\n--gantry:live-manifest\n[1, 2]\n--gantry:live-end\n", ("", {})),
], ids=["both", "no-release", "manifest-unreadable", "manifest-not-a-mapping"])
def test_readouts_live_files(text, want):
    assert readouts.live_files(split_sections(text)) == want


@pytest.mark.parametrize("text,want", [
    ('/web {"Health":{"Log":[{"ExitCode":1},{"ExitCode":1},{"ExitCode":0},{"ExitCode":1}]}}',
     [{"ExitCode": 1}, {"ExitCode": 0}, {"ExitCode": 1}]),
    ('/web {"Status":"running"}', []),
    ("/web null", []),
    ("/web not-json", []),
    ("", []),
], ids=["last-three", "no-healthcheck", "null-state", "unreadable", "nothing"])
def test_readouts_parse_health_log_keeps_the_last_three(text, want):
    assert readouts.parse_health_log(text) == want
