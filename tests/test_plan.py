"""Plans for many hosts: hosts with the same change are shown once (`app-1..app-40`), `--per-host` lists all."""

from __future__ import annotations

import datetime
import json

import pytest

from gantry.plan import LiveRelease, group_hosts, host_ranges, make_plan, render_plan
from gantry.release import make_release

NOW = datetime.datetime(2026, 12, 1, 12, 0, tzinfo=datetime.timezone.utc)
OLD = "services:\n  web:\n    image: r/web:1\n"
NEW = "services:\n  web:\n    image: r/web:2\n"


def release(compose_yaml: str):
    return make_release(environment="prod", project="p", compose_yaml=compose_yaml, env_file="", sources=(),
                        images={"web": "r/web:2"}, secret_fingerprints={}, git_commit="", now=NOW, who="t")


def live(compose_yaml: str, rid: str = "20261101T000000Z-aaaa") -> LiveRelease:
    old = release(compose_yaml)
    return LiveRelease(rid, compose_yaml, json.dumps(old.manifest))


@pytest.mark.parametrize("hosts, want", [
    ([f"app-{i}" for i in range(1, 41)], "app-1..app-40"),
    (["app-1", "app-2"], "app-1, app-2"),
    (["app-1", "app-2", "app-3", "app-5", "db-1"], "app-1..app-3, app-5, db-1"),
    (["web", "10.0.0.1", "10.0.0.2", "10.0.0.3"], "web, 10.0.0.1..10.0.0.3"),
    (["app-3", "app-2", "app-1"], "app-3, app-2, app-1"),
], ids=["forty", "two-listed", "runs-and-gaps", "addresses", "descending-not-a-run"])
def test_plan_host_ranges(hosts, want):
    assert host_ranges(hosts) == want


def test_plan_groups_forty_hosts_with_the_same_diff_and_keeps_the_odd_one_apart():
    hosts = [f"app-{i}" for i in range(1, 41)] + ["canary"]
    lives = {h: live(OLD) for h in hosts[:40]} | {"canary": LiveRelease()}
    plan = make_plan(release(NEW), lives, hosts, 10)
    groups = group_hosts(plan)
    assert [names for names, _ in groups] == [tuple(hosts[:40]), ("canary",)]
    text = render_plan(plan)
    assert "\napp-1..app-40 (40 hosts): deploy" in text and "\ncanary: first-deploy" in text
    assert text.count("-    image: r/web:1") == 1 and text.count("+    image: r/web:2") == 2
    assert "HOST:current/compose.yaml" in text and "app-7:current" not in text
    assert plan.to_dict()["groups"] == [hosts[:40], ["canary"]]


def test_plan_per_host_lists_every_host_with_its_own_diff_header():
    hosts = [f"app-{i}" for i in range(1, 4)]
    plan = make_plan(release(NEW), {h: live(OLD) for h in hosts}, hosts, 0)
    grouped, full = render_plan(plan), render_plan(plan, per_host=True)
    assert "app-1..app-3 (3 hosts): deploy" in grouped
    for h in hosts:
        assert f"\n{h}: deploy" in full and f"--- {h}:current/compose.yaml" in full
    assert full.count("+    image: r/web:2") == 3


def test_plan_hosts_on_different_live_releases_are_not_grouped():
    hosts = ["app-1", "app-2", "app-3"]
    lives = {"app-1": live(OLD), "app-2": live(OLD, "20261102T000000Z-bbbb"), "app-3": live(OLD)}
    plan = make_plan(release(NEW), lives, hosts, 0)
    assert [names for names, _ in group_hosts(plan)] == [("app-1", "app-3"), ("app-2",)]
    text = render_plan(plan)
    assert "\napp-1, app-3: deploy" in text and "\napp-2: deploy (live: 20261102T000000Z-bbbb)" in text


def test_plan_a_single_host_keeps_its_own_name_in_the_diff():
    plan = make_plan(release(NEW), {"solo": live(OLD)}, ["solo"], 0)
    assert "--- solo:current/compose.yaml" in render_plan(plan)


def test_plan_unchanged_hosts_are_one_line():
    rel = release(NEW)
    lv = LiveRelease("r1", NEW, json.dumps(rel.manifest))
    plan = make_plan(rel, {f"app-{i}": lv for i in range(1, 6)}, [f"app-{i}" for i in range(1, 6)], 0)
    assert "app-1..app-5 (5 hosts): unchanged (live: r1)" in render_plan(plan) and plan.exit_code == 0


@pytest.mark.parametrize("not_healthy, action, code", [
    ("", "unchanged", 0),
    ("worker: container p-worker-1 is exited", "repair", 6),
], ids=["healthy", "a-container-down"])
def test_plan_same_content_with_a_container_down_is_a_repair(not_healthy, action, code):
    rel = release(NEW)
    same = LiveRelease("20261101T000000Z-aaaa", NEW, json.dumps(rel.manifest), not_healthy)
    plan = make_plan(rel, {"app-1": same}, ["app-1"], 0)
    assert (plan.hosts[0].action, plan.exit_code) == (action, code)
    assert (not_healthy in render_plan(plan)) and (("changes: yes" in render_plan(plan)) == bool(not_healthy))
