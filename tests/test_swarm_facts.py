"""Swarm engine parsers, verdict and argv builders, on output captured from the lab's Docker Engine 20.10
(docker CLI 28) in tests/captured/swarm-docker20.10/."""

import dataclasses
from pathlib import Path

import pytest

from gantry.engines.hosts.commands import Layout
from gantry.engines.swarm import commands
from gantry.engines.swarm.facts import parse_json_lines, parse_state
from gantry.engines.swarm.verdict import leftovers, service_rows, stack_verdict
from gantry.health import Failed, Healthy, Pending
from gantry.shell import display, render

CAPTURED = Path(__file__).resolve().parent / "captured" / "swarm-docker20.10"


def state(name: str):
    return parse_state((CAPTURED / f"state-gx4-{name}.txt").read_text())


def test_swarm_state_parses_nodes_services_and_tasks():
    s = state("deployed")
    assert s.complete and s.is_manager
    assert sorted((n.address, n.role, n.state) for n in s.nodes) == [
        ("10.231.57.11", "manager", "ready"), ("10.231.57.12", "worker", "ready"), ("10.231.57.13", "worker", "ready")]
    assert [(v.name, v.replicas, v.has_healthcheck) for v in s.services] == [
        ("gx4_web", 1, True), ("gx4_worker", 1, True)]
    assert all("@sha256:" in v.image for v in s.services)
    assert sorted((t.slot, t.state, t.desired) for t in s.tasks) == [(1, "running", "running")] * 2


def test_swarm_state_of_a_truncated_read_is_not_complete():
    text = (CAPTURED / "state-gx4-deployed.txt").read_text()
    assert not parse_state(text[: text.index("--gantry:tasks")]).complete


@pytest.mark.parametrize("name, since_offset, kind, words", [
    ("deployed", 0, Healthy, "2 service(s) converged"),
    ("updating", -20, Pending, "web: 0/1 running"),
    ("rb-done", -20, Failed, "Swarm rolled back the update of service web: its task gx4_web.1"),
    ("rb-done", +60, Pending, "worker"),  # a rollback before this deploy began is not this deploy's failure
], ids=["converged", "updating-pending", "rolled-back-fails", "old-rollback-ignored"])
def test_swarm_verdict_on_captured_states(name, since_offset, kind, words):
    s = state(name)
    verdict = stack_verdict(s, "gx4", ("web", "worker"), s.clock + since_offset)
    assert isinstance(verdict, kind)
    assert words in (verdict.detail if kind is Healthy else verdict.reason)


def test_swarm_verdict_names_the_failing_task_and_its_error():
    s = state("rb-done")
    verdict = stack_verdict(s, "gx4", ("web", "worker"), s.clock - 20)
    assert verdict.service == "web" and verdict.container.startswith("gx4_web.1 (")
    assert "complete: finished, exit 0" in verdict.reason


def test_swarm_verdict_waits_for_a_missing_service():
    s = state("deployed")
    verdict = stack_verdict(s, "gx4", ("web", "worker", "cache"), s.clock)
    assert isinstance(verdict, Pending) and "cache" in verdict.reason


def test_swarm_verdict_does_not_count_tasks_on_a_down_node():
    s = state("deployed")
    web_node = next(t.node_id for t in s.tasks if t.service_id == s.services[0].id)
    down = dataclasses.replace(s, nodes=tuple(dataclasses.replace(n, state="down") if n.id == web_node else n
                                              for n in s.nodes))
    verdict = stack_verdict(down, "gx4", ("web", "worker"), s.clock)
    assert isinstance(verdict, Pending) and "web: 0/1 running" in verdict.reason


def test_swarm_verdict_an_old_task_on_a_down_node_does_not_hold_convergence():
    s = state("deployed")
    web = s.services[0]
    new_task = next(t for t in s.tasks if t.service_id == web.id)
    other = next(n for n in s.nodes if n.id not in {t.node_id for t in s.tasks})  # a node running no task
    old_task = dataclasses.replace(new_task, id="old" + new_task.id[3:], node_id=other.id, spec_key="older-spec")
    nodes = tuple(dataclasses.replace(n, state="down") if n.id == other.id else n for n in s.nodes)
    with_old = dataclasses.replace(s, tasks=s.tasks + (old_task,))
    assert isinstance(stack_verdict(with_old, "gx4", ("web", "worker"), s.clock), Pending)  # its node answers
    assert isinstance(stack_verdict(dataclasses.replace(with_old, nodes=nodes), "gx4", ("web", "worker"), s.clock),
                      Healthy)


def _beside(s, *, slot_offset=0, node_state="ready", update_state="completed", stuck=False):
    """The deployed state plus an old web task running on another node, in the same slot (or the next); `stuck`:
    plus the task the updater started for that slot, never run, on a third node (the worker's) that is down."""
    web = s.services[0]
    new_task = next(t for t in s.tasks if t.service_id == web.id)
    free = [n for n in s.nodes if n.id not in {t.node_id for t in s.tasks}]
    old_task = dataclasses.replace(new_task, id="old" + new_task.id[3:], node_id=free[0].id, spec_key="older-spec",
                                   slot=new_task.slot + slot_offset)
    extra = (old_task,)
    down = {free[0].id: node_state}
    if stuck:
        third = next(t.node_id for t in s.tasks if t.service_id != web.id)
        extra += (dataclasses.replace(new_task, id="new" + new_task.id[3:], node_id=third, state="assigned",
                                      desired="shutdown"),)
        down[third] = "down"
    nodes = tuple(dataclasses.replace(n, state=down.get(n.id, n.state)) for n in s.nodes)
    services = (dataclasses.replace(web, update_state=update_state),) + s.services[1:]
    return dataclasses.replace(s, nodes=nodes, services=services, tasks=s.tasks + extra)


@pytest.mark.parametrize("changes, found", [
    ({}, ("web",)),
    ({"update_state": ""}, ("web",)),  # a service never updated through the API has no update status
    ({"update_state": "updating"}, ()),  # start-first mid-update: the updater still stops the old one itself
    ({"update_state": "updating", "stuck": True}, ("web",)),  # ... unless it waits on a task a down node holds
    ({"slot_offset": 1}, ()),  # another slot: a replica the service still waits for, not a leftover
    ({"node_state": "down"}, ()),  # Swarm cannot stop it there; it does not count (see the test above)
], ids=["completed", "no-update-status", "updating", "updating-stuck-on-down-node", "other-slot", "node-down"])
def test_swarm_leftovers_are_old_tasks_beside_a_running_replacement(changes, found):
    s = state("deployed")
    beside = _beside(s, **changes)
    assert leftovers(beside, "gx4", ("web", "worker")) == found
    assert leftovers(s, "gx4", ("web", "worker")) == ()
    if found:  # a leftover is still not convergence
        assert "web: 1/1 running, 1 old" in stack_verdict(beside, "gx4", ("web", "worker"), s.clock).reason


def test_swarm_reconcile_is_a_forced_update_of_the_same_spec():
    assert render(commands.service_reconcile("-gx4_web")) == (
        "docker service update --detach --force --no-resolve-image -- -gx4_web")


def test_swarm_service_rows_name_nodes_by_address():
    rows = service_rows(state("deployed"), "gx4")
    assert [(r.service, r.running, r.desired) for r in rows] == [("web", 1, 1), ("worker", 1, 1)]
    assert all(r.nodes[0].startswith("10.231.57.") for r in rows)


@pytest.mark.parametrize("file, count, key", [
    ("node_ls.jsonl", 3, "Status"), ("service_ls.jsonl", 1, "Replicas"), ("service_ps.jsonl", 2, "CurrentState"),
    ("secret_ls.jsonl", 1, "Name")], ids=["node-ls", "service-ls", "service-ps", "secret-ls"])
def test_swarm_ls_json_lines(file, count, key):
    rows = parse_json_lines((CAPTURED / file).read_text())
    assert len(rows) == count and all(key in r for r in rows)


LAYOUT = Layout("/srv/my apps/proj/swarm")


@pytest.mark.parametrize("cmd, text", [
    (commands.stack_deploy(LAYOUT, "20261201T000000Z-abcdef0123", "proj-swarm"),
     "docker stack deploy --detach=true --prune --resolve-image never --with-registry-auth --compose-file "
     "'/srv/my apps/proj/swarm/releases/20261201T000000Z-abcdef0123/stack.yml' -- proj-swarm"),
    (commands.secret_create("proj-swarm_DB_PASSWORD_0123456789", "proj-swarm"),
     "docker secret create --label gantry.stack=proj-swarm -- proj-swarm_DB_PASSWORD_0123456789 -"),
    (commands.service_inspect("proj-swarm"),
     "docker service ls -q --filter label=com.docker.stack.namespace=proj-swarm | xargs -r docker service inspect --"),
    (commands.node_ls(), "docker node ls --format json"),
    (commands.service_ps("proj-swarm_web"), "docker service ps --no-trunc --format json -- proj-swarm_web"),
], ids=["stack-deploy-path-with-space", "secret-create-stdin", "service-inspect", "node-ls", "service-ps"])
def test_swarm_commands_render(cmd, text):
    assert render(cmd) == text == display(cmd)


def test_swarm_stack_logs_reads_every_service_of_the_stack_by_label():
    assert render(commands.stack_logs("-gx4", 5)) == (
        "docker service ls --format '{{.Name}}' --filter label=com.docker.stack.namespace=-gx4 | "
        "xargs -r -n 1 docker service logs --tail 5 --no-task-ids --")
