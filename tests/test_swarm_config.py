"""`engine:`, `managers:` and `swarm:` in environments/<env>.yml: validated like every key, with file and line."""

import pytest

from gantry.config import bind_environment
from gantry.errors import ProblemList

BASE = "project: app\ndeploy_path: /srv/gantry\n"


@pytest.mark.parametrize("text, where, what", [
    (BASE + "engine: swarn\n", "environments/x.yml:3:1: engine", 'unknown engine "swarn"'),
    (BASE + "engine: swarm\nhosts:\n  - address: 10.0.0.1\n", "environments/x.yml:4:1: hosts",
     "is not used with engine: swarm"),
    (BASE + "managers:\n  - address: 10.0.0.1\n", "environments/x.yml:3:1: managers", "only used with engine: swarm"),
    (BASE + "engine: swarm\nmanagers:\n  - {address: 10.0.0.1, port: 0}\n", "environments/x.yml:5:", "not a TCP port"),
    (BASE + "engine: swarm\nswarm: {routing_mesh: maybe}\n", "environments/x.yml:4:", "expected a boolean"),
    (BASE + "engine: swarm\nswarm: {routing: false}\n", "environments/x.yml:4:", "unknown key"),
], ids=["unknown-engine", "hosts-with-swarm", "managers-without-swarm", "manager-port", "routing-mesh-type",
        "unknown-swarm-key"])
def test_swarm_config_errors_name_file_line_and_key(text, where, what):
    with pytest.raises(ProblemList) as caught:
        bind_environment(text, "environments/x.yml")
    shown = str(caught.value)
    assert where in shown and what in shown, shown


def test_swarm_config_binds():
    env = bind_environment(BASE + "engine: swarm\nmanagers:\n  - {address: 10.0.0.1, name: m1}\n"
                           "swarm: {routing_mesh: false}\n", "environments/x.yml")
    assert env.engine == "swarm" and env.managers[0].label == "m1" and env.swarm.routing_mesh is False
    assert env.hosts == []
