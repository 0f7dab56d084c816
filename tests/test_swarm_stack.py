"""The compose model -> stack file transformation of the swarm engine (pure)."""

import pytest
import yaml

from gantry.engines.swarm.stack import StackSettings, make_stack, monitor_seconds, secret_name

FP = {"DB_PASSWORD": "1e43a30ccc03aa", "API_TOKEN": "5e57928d36a0bb"}
HEALTH = {"test": ["CMD", "true"], "interval": "1s", "timeout": "2s", "retries": 3, "start_period": "5s"}


def model(**web) -> dict:
    return {"name": "p-e", "services": {"web": {"image": "reg:5000/app/web:1.0", "networks": {"default": None},
                                                 "command": None, **web}},
            "networks": {"default": {"name": "p-e_default", "ipam": {}}}}


def stack(m, *, mesh=True, batch=0, images=None):
    out, problems = make_stack(m, FP, images or {}, StackSettings("p-e", mesh, batch))
    return out, problems


def test_stack_secret_variable_becomes_a_swarm_secret_file():
    out, problems = stack(model(environment={"DB_PASSWORD": "${DB_PASSWORD}", "A": "1"}, user="65534:65534"))
    web = out.data["services"]["web"]
    assert problems == []
    assert web["environment"] == {"A": "1", "DB_PASSWORD_FILE": "/run/secrets/DB_PASSWORD"}
    assert web["secrets"] == [{"source": "DB_PASSWORD", "target": "DB_PASSWORD", "mode": 0o400,
                               "uid": "65534", "gid": "65534"}]
    assert out.data["secrets"] == {"DB_PASSWORD": {"name": "p-e_DB_PASSWORD_1e43a30ccc", "external": True}}
    assert [(s.name, s.source) for s in out.secrets] == [("p-e_DB_PASSWORD_1e43a30ccc", "DB_PASSWORD")]
    assert "${" not in yaml.safe_dump(out.data)


@pytest.mark.parametrize("env, key", [
    ({"URL": "postgres://u:${DB_PASSWORD}@db/x"}, "environment.URL"),
    ({"BOTH": "${DB_PASSWORD}${API_TOKEN}"}, "environment.BOTH"),
], ids=["inside-a-longer-value", "two-secrets-in-one"])
def test_stack_secret_inside_a_value_is_refused(env, key):
    _, problems = stack(model(environment=env))
    assert [p.where for p in problems] == [f"services.web.{key}"]


def test_stack_secret_outside_environment_is_refused():
    _, problems = stack(model(command=["run", "--token", "${API_TOKEN}"]))
    assert [p.where for p in problems] == ["services.web.command"]


def test_stack_literal_dollar_is_not_a_secret():
    out, problems = stack(model(environment={"PRICE": "$${DB_PASSWORD}"}))
    assert problems == [] and out.data["services"]["web"]["environment"] == {"PRICE": "$${DB_PASSWORD}"}


@pytest.mark.parametrize("deploy, mesh, batch, want", [
    ({}, True, 0, {"failure_action": "rollback", "order": "start-first", "monitor": "14s", "parallelism": 0}),
    ({}, True, 2, {"failure_action": "rollback", "order": "start-first", "monitor": "14s", "parallelism": 2}),
    ({"update_config": {"order": "stop-first", "failure_action": "pause"}}, True, 0,
     {"failure_action": "pause", "order": "stop-first", "monitor": "14s", "parallelism": 0}),
], ids=["defaults", "batch-size-is-parallelism", "user-values-win"])
def test_stack_update_config(deploy, mesh, batch, want):
    out, _ = stack(model(deploy=deploy, healthcheck=HEALTH), mesh=mesh, batch=batch)
    assert out.data["services"]["web"]["deploy"]["update_config"] == want


PORT = {"target": 8080, "published": "8080", "host_ip": "0.0.0.0", "protocol": "tcp", "mode": "ingress"}


@pytest.mark.parametrize("mesh, want_port, endpoint, order", [
    (True, {"target": 8080, "published": 8080, "protocol": "tcp", "mode": "ingress"}, None, "start-first"),
    (False, {"target": 8080, "published": 8080, "protocol": "tcp", "mode": "host"}, "dnsrr", "stop-first"),
], ids=["routing-mesh", "lab-no-ipvs"])
def test_stack_ports_and_endpoint_mode(mesh, want_port, endpoint, order):
    out, _ = stack(model(ports=[PORT]), mesh=mesh)
    web = out.data["services"]["web"]
    assert web["ports"] == [want_port]
    assert web["deploy"].get("endpoint_mode") == endpoint
    assert web["deploy"]["update_config"]["order"] == order


def test_stack_translates_restart_tmpfs_and_drops_what_swarm_ignores():
    out, _ = stack(model(restart="on-failure:3", tmpfs=["/tmp:size=8m,mode=1777"], security_opt=["x"],
                         container_name="c", deploy={"resources": {"limits": {"cpus": 0.5}}, "placement": {}}))
    web = out.data["services"]["web"]
    assert web["deploy"]["restart_policy"] == {"condition": "on-failure", "max_attempts": 3}
    assert web["volumes"] == [{"type": "tmpfs", "target": "/tmp", "tmpfs": {"size": 8 * 1024 * 1024}}]
    assert "security_opt" not in web and "container_name" not in web and "command" not in web
    assert web["deploy"]["resources"]["limits"]["cpus"] == "0.5" and "placement" not in web["deploy"]
    assert web["networks"] == {"default": {}}
    assert sorted(w.split(":")[0] for w in out.warnings) == ["services.web.container_name",
                                                               "services.web.security_opt"]
    assert out.data["networks"] == {"default": {}}  # the stack names it <stack>_default


def test_stack_pins_images():
    pinned = "reg:5000/app/web@sha256:" + "a" * 64
    out, _ = stack(model(), images={"web": pinned})
    assert out.data["services"]["web"]["image"] == pinned


@pytest.mark.parametrize("hc, want", [
    (HEALTH, 14.0), (None, 5.0), ({"test": ["NONE"]}, 5.0), ({"test": ["CMD", "x"], "interval": "100ms",
                                                             "timeout": "100ms", "retries": 1}, 5.0),
], ids=["from-healthcheck", "none", "disabled", "at-least-5s"])
def test_stack_monitor_from_healthcheck(hc, want):
    assert monitor_seconds(hc) == want


def test_stack_secret_names_fit_swarm_limit():
    name = secret_name("a" * 60, "B" * 40, "0123456789abcdef")
    assert len(name) <= 64 and name.endswith("_0123456789")
