"""Compose project names on a host: one per (project, environment), the old name kept wherever it was
unambiguous, and an environment still running under its old name is found from the host's facts."""

from __future__ import annotations

import itertools

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from gantry.config.checks import NAME_PATTERN, compose_project_name
from gantry.engines.hosts import commands
from gantry.engines.hosts.facts import Preflight, parse_preflight
from gantry.policy.host import check_host
from gantry.shell import render

NAMES = st.from_regex(r"[a-z0-9][a-z0-9_-]{0,6}", fullmatch=True)


@pytest.mark.parametrize("project, env, name", [
    ("app", "prod", "app-prod"),
    ("a-b", "c", "a-b-c"),
    ("a", "b-c", "a-_b_dc"),
    ("a", "b_c", "a-b_c"),
    ("a", "b-_c", "a-_b_d__c"),
    ("my-app", "staging", "my-app-staging"),
], ids=["plain", "dash-in-project", "dash-in-env", "underscore-env", "both", "dashed-project-kept"])
def test_namespaces_compose_project_names(project, env, name):
    assert compose_project_name(project, env) == name and NAME_PATTERN.match(name)


def test_namespaces_the_colliding_pair_gets_two_names():
    assert f"{'a-b'}-{'c'}" == f"{'a'}-{'b-c'}"  # the old mapping: one project on the host for both
    assert compose_project_name("a-b", "c") != compose_project_name("a", "b-c")


@settings(max_examples=100, deadline=None, derandomize=True)
@given(st.lists(st.tuples(NAMES, NAMES), min_size=2, max_size=6, unique=True))
def test_namespaces_mapping_is_injective(pairs):
    names = [compose_project_name(p, e) for p, e in pairs]
    assert len(set(names)) == len(names), list(zip(pairs, names))
    for (p, e), name in zip(pairs, names):
        assert NAME_PATTERN.match(name)
        assert (name == f"{p}-{e}") == ("-" not in e)  # unchanged exactly where the old name was unambiguous


def test_namespaces_injective_over_every_short_name():
    alphabet = "a-_"
    words = ["".join(t) for n in (1, 2, 3) for t in itertools.product(alphabet, repeat=n) if t[0] == "a"]
    seen: dict[str, tuple[str, str]] = {}
    for p, e in itertools.product(words, repeat=2):
        name = compose_project_name(p, e)
        assert seen.setdefault(name, (p, e)) == (p, e)


@pytest.mark.parametrize("project, env, legacy", [
    ("app", "prod", ""), ("a-b", "c", ""), ("a", "b-c", "a-b-c"),
], ids=["plain", "dash-in-project", "dash-in-env"])
def test_namespaces_legacy_name_only_where_it_changed(project, env, legacy):
    layout = commands.Layout(f"/srv/g/{project}/{env}")
    assert commands.legacy_project(layout) == legacy
    assert bool(legacy) == (compose_project_name(project, env) != f"{project}-{env}")
    text = render(commands.host_preflight(layout))
    assert ("--gantry:legacy" in text) == bool(legacy)
    if legacy:  # only containers made from this base's releases: not those of the env that has the name today
        assert f"label=com.docker.compose.project={legacy}" in text and "grep -F -e ' /srv/g/a/b-c/releases/'" in text


def test_namespaces_an_old_copy_blocks_the_deploy():
    text = ("--gantry:info\n[\"name=seccomp,profile=default\"] 20.10.24 2.40.3\n--gantry:df\n"
            "Filesystem 1024-blocks Used Available Capacity Mounted\n/dev/x 1 1 99999999 1% /\n"
            "--gantry:legacy\na-b-c-web-1 /srv/g/a/b-c/releases/20261201T100000Z-abcdef0123\n--gantry:preflight-end\n")
    pre = parse_preflight(text)
    assert pre.legacy == ("a-b-c-web-1",)
    found = [f for f in check_host("h1", pre, "lab") if f.rule == "HOST-PROJECT-RENAMED"]
    assert [f.severity for f in found] == ["error"] and "a-b-c-web-1" in found[0].message
    assert "README" in found[0].fix
    assert not [f for f in check_host("h1", Preflight(pre.security_options, "20.10.24", "2.40.3", 9 << 30), "lab")
                if f.rule == "HOST-PROJECT-RENAMED"]
