"""The blue/green steps of one host, and their undo: pure functions of the host's plan and its colours."""

import pytest

from gantry.engines.bluegreen.steps import BlueGreenLive, deploy_steps, rollback_steps
from gantry.plan import HostPlan
from gantry.release import Release

REL = Release("r2", "h2", "services: {}\n", "", {})


def kinds(steps):
    return [f"{s.kind} {s.release}" for s in steps]


@pytest.mark.parametrize("live, expected", [
    (BlueGreenLive("r1", colour="blue", releases=("r1",)),
     ["upload r2", "up r2", "wait r2", "proxy r2", "up-green r2", "wait-green r2", "switch-green r2", "drain r2",
      "retire-blue r1"]),
    (BlueGreenLive(), ["upload r2", "up r2", "wait r2", "proxy r2", "up-blue r2", "wait-blue r2", "switch-blue r2",
                       "drain r2"]),
], ids=["blue-live", "first-deploy"])
def test_bluegreen_steps_deploy_the_other_colour_then_switch(live, expected):
    hp = HostPlan("h", live.id, "deploy" if live.id else "first-deploy", target="r2")
    assert kinds(deploy_steps(hp, REL, live)) == expected


def test_bluegreen_steps_a_failure_before_the_switch_never_touches_the_proxy():
    live = BlueGreenLive("r1", colour="blue", releases=("r1",))
    steps = {s.kind: s for s in deploy_steps(HostPlan("h", "r1", "deploy", target="r2"), REL, live)}
    undo = kinds(steps["wait-green"].undo)
    assert undo == ["remove-green r2", "up r1", "wait r1"] and not any("switch" in k for k in undo)
    after = kinds(steps["retire-blue"].undo)  # after the switch: blue again, the proxy back, green removed
    assert after[:3] == ["up-blue r1", "wait-blue r1", "switch-blue r1"] and after[-1] == "remove-green r2"
    assert all(s.restoring for s in steps["retire-blue"].undo)


def test_bluegreen_steps_unchanged_host_has_none():
    live = BlueGreenLive("r2", colour="green", releases=("r2",))
    assert deploy_steps(HostPlan("h", "r2", "unchanged", target="r2"), REL, live) == ()


@pytest.mark.parametrize("idle, expected", [
    ("r1", ["up r1", "wait r1", "proxy r1", "switch-blue r1", "drain r1", "retire-green r2"]),
    ("", ["up r1", "wait r1", "proxy r1", "up-blue r1", "wait-blue r1", "switch-blue r1", "drain r1",
          "retire-green r2"]),
], ids=["instant-blue-still-runs-r1", "blue-gone"])
def test_bluegreen_steps_rollback_is_the_switch_in_reverse(idle, expected):
    live = BlueGreenLive("r2", colour="green", idle_runs=idle, releases=("r1", "r2"))
    steps = rollback_steps(HostPlan("h", "r2", "rollback", target="r1"), live)
    assert kinds(steps) == expected and all(s.pinned for s in steps if s.kind.startswith(("up", "wait")))


def test_bluegreen_steps_repair_brings_the_live_release_up_as_a_new_colour():
    live = BlueGreenLive("r1", colour="blue", releases=("r1",), not_healthy="web: exited")
    steps = deploy_steps(HostPlan("h", "r1", "repair", target="r1"), REL, live)
    assert kinds(steps)[:5] == ["up r1", "wait r1", "proxy r1", "up-green r1", "wait-green r1"]
    assert kinds(steps[0].undo) == ["stop r1"]  # nothing else to go back to
