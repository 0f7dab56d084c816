"""The swarm engine's plan steps (pure): the hosts engine's steps, and a release Swarm cannot hold refused."""

import datetime
from types import SimpleNamespace

import pytest
import yaml

from gantry.engines import engine_for
from gantry.errors import ProblemList
from gantry.plan import HostPlan, LiveRelease
from gantry.release import make_release

ENV = SimpleNamespace(compose_project="app-swarm", swarm=SimpleNamespace(routing_mesh=False),
                      rollout=SimpleNamespace(batch_size=0))
CANARY = "canary-engine-7731c0"
NOW = datetime.datetime(2026, 12, 1, tzinfo=datetime.timezone.utc)


def release(environment: dict):
    compose = yaml.safe_dump({"services": {"web": {"image": "r/web:1", "environment": environment}}})
    return make_release(environment="swarm", project="app", compose_yaml=compose, env_file=f'DB_PASSWORD="{CANARY}"\n',
                        sources=(), images={"web": "r/web:1"}, secret_fingerprints={"DB_PASSWORD": "0123456789ab"},
                        git_commit="", now=NOW, who="t")


@pytest.mark.parametrize("current, action, kinds", [
    ("", "first-deploy", ["upload", "up", "wait", "switch"]),
    ("20261130T000000Z-aaaaaaaaaa", "deploy", ["upload", "up", "wait", "switch"]),
    ("20261130T000000Z-aaaaaaaaaa", "unchanged", []),
], ids=["first", "deploy", "unchanged"])
def test_swarm_engine_steps(current, action, kinds):
    rel = release({"DB_PASSWORD": "${DB_PASSWORD}"})
    hp = HostPlan("mgr", current, action, target=rel.id)
    steps = engine_for("swarm", ENV).deploy_steps(hp, rel, LiveRelease(current))
    assert [s.kind for s in steps] == kinds
    if action == "deploy":  # from `up` on, the previous release's whole stack comes back
        assert [(u.kind, u.release) for u in steps[1].undo] == [("up", current), ("wait", current)]


def test_swarm_engine_refuses_a_secret_inside_a_value_before_any_lock():
    rel = release({"URL": "postgres://u:${DB_PASSWORD}@db"})
    with pytest.raises(ProblemList) as caught:
        engine_for("swarm", ENV).deploy_steps(HostPlan("mgr", "", "first-deploy", target=rel.id), rel, LiveRelease())
    assert "services.web.environment.URL" in str(caught.value) and CANARY not in str(caught.value)
