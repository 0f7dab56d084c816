"""The convergence verdict on a stack (pure): every service has its desired count of tasks running the
current spec on usable nodes, no task of an older spec still runs, and no update is under way.

A service whose update Swarm rolled back (or paused) since the deploy began fails at once, naming the
service, its failing task and that task's error: `docker stack deploy` itself exits 0 then (docker/cli#6752).
Tasks with a health check only reach `running` once healthy, so `running` is the health verdict too.
"""

from __future__ import annotations

from dataclasses import dataclass

from gantry.engines.swarm.facts import PAUSED, ROLLED_BACK, SwarmService, SwarmState, SwarmTask
from gantry.health import Failed, Healthy, Pending, Verdict

STARTING = ("new", "pending", "assigned", "accepted", "ready", "preparing", "starting")  # before `running`
CLOCK_SLACK = 1.0  # seconds: an update that began just before the deploy's own clock reading is still ours


@dataclass(frozen=True)
class ServiceRow:
    """What `inv status` shows of one service."""

    service: str
    running: int
    desired: int
    nodes: tuple[str, ...]  # the addresses of the nodes its running tasks are on
    update: str = ""


def task_label(service: SwarmService, task: SwarmTask) -> str:
    slot = str(task.slot) if task.slot else task.node_id[:12]
    return f"{service.name}.{slot} ({task.id[:12]})"


def _tasks(state: SwarmState, service: SwarmService) -> list[SwarmTask]:
    return [t for t in state.tasks if t.service_id == service.id]


def _desired(service: SwarmService, tasks: list[SwarmTask]) -> int:
    if service.replicas is not None:
        return service.replicas
    return max(1, len({t.node_id for t in tasks if t.desired == "running"}))


def _running(state: SwarmState, service: SwarmService, tasks: list[SwarmTask]) -> list[SwarmTask]:
    usable = {n.id for n in state.nodes if n.usable}
    return [t for t in tasks if t.state == "running" and t.desired == "running" and t.node_id in usable
            and t.spec_key == service.spec_key]


def task_error(task: SwarmTask) -> str:
    """What happened to a task, in Swarm's words: its error, else its state, message and exit code."""
    what = f"{task.state}" + (f": {task.message}" if task.message and task.message != task.state else "")
    if task.state in ("complete", "failed", "shutdown"):
        what += f", exit {task.exit_code}"
    return f"{task.error} ({what})" if task.error else what


def failing_task(state: SwarmState, service: SwarmService) -> SwarmTask | None:
    """The newest task of the update Swarm gave up on: created after it began, not of the spec it returned to."""
    tasks = [t for t in _tasks(state, service) if t.created >= service.update_started - CLOCK_SLACK
             and t.spec_key != service.spec_key]
    tasks.sort(key=lambda t: (bool(t.error), t.created))
    return tasks[-1] if tasks else None


def _rolled_back(state: SwarmState, service: SwarmService, stack: str) -> Failed:
    name = service.short_name(stack)
    task = failing_task(state, service)
    how = "rolled back" if service.update_state in ROLLED_BACK else "paused"
    why = f"its task {task_label(service, task)} ended during the update ({task_error(task)})" if task \
        else "no task of the update is left to show why"
    said = "" if service.update_message in ("", "rollback completed", "update paused") else \
        f"; Swarm says: {service.update_message}"
    return Failed(f"Swarm {how} the update of service {name}: {why}{said}", service=name,
                  container=task_label(service, task) if task else "")


def _slot_key(task: SwarmTask) -> tuple[int, str]:
    """A replicated task's slot, a global task's node."""
    return (task.slot, "") if task.slot else (0, task.node_id)


def leftovers(state: SwarmState, stack: str, services: tuple[str, ...]) -> tuple[str, ...]:
    """The services where Swarm keeps an old task running beside its running replacement, and will not stop it.

    In start-first order the updater stops an old task only once the new task it started reached `running`
    (moby/swarmkit#2308). When that new task's node goes down before it runs, the task stays `assigned` there:
    Swarm's restart logic starts a replacement on another node, but the updater waits for the task it started,
    `updating` until the node comes back, with the old task still running in the same slot. The next update of
    the service reconciles the slot (its up-to-date task stays, the others stop). A slot counts when its
    replacement runs on a usable node and either the update is over or its own new task sits on a node that is
    not usable; a start-first update under way on nodes that answer is not a leftover."""
    by_name = {s.short_name(stack): s for s in state.services}
    usable = {n.id for n in state.nodes if n.usable}
    found = []
    for name in services:
        service = by_name.get(name)
        if service is None:
            continue
        tasks = _tasks(state, service)
        live = [t for t in tasks if t.state == "running" and t.desired == "running" and t.node_id in usable]
        current = {_slot_key(t) for t in live if t.spec_key == service.spec_key}
        stuck = {_slot_key(t) for t in tasks if t.spec_key == service.spec_key and t.node_id not in usable
                 and t.state in STARTING}
        if any(t.spec_key != service.spec_key and _slot_key(t) in current
               and (service.update_state != "updating" or _slot_key(t) in stuck) for t in live):
            found.append(name)
    return tuple(found)


def stack_verdict(state: SwarmState, stack: str, services: tuple[str, ...], since: float) -> Verdict:
    """Healthy when every one of `services` has converged; `since`: the manager's clock when the deploy began."""
    by_name = {s.short_name(stack): s for s in state.services}
    missing = [n for n in services if n not in by_name]
    if missing:
        return Pending(f"service(s) {', '.join(missing)} not created yet", starting=True)
    for name in services:
        service = by_name[name]
        if service.update_state in ROLLED_BACK + PAUSED and service.update_started >= since - CLOCK_SLACK:
            return _rolled_back(state, service, stack)
    waiting = []
    for name in services:
        service = by_name[name]
        tasks = _tasks(state, service)
        running, desired = _running(state, service, tasks), _desired(service, tasks)
        # An old task on a node that is down cannot be stopped until the node comes back; Swarm replaces it
        # there then. It does not hold the stack from converging on the nodes that answer.
        usable = {n.id for n in state.nodes if n.usable}
        older = [t for t in tasks if t.state == "running" and t.desired == "running" and t.spec_key != service.spec_key
                 and t.node_id in usable]
        if len(running) >= desired and not older and service.update_state != "updating":
            continue
        broken = sorted((t for t in tasks if t.spec_key == service.spec_key and t.state in ("failed", "rejected")),
                        key=lambda t: t.created)
        last = f"; last error: {task_label(service, broken[-1])}: {task_error(broken[-1])}" if broken else ""
        waiting.append(f"{name}: {len(running)}/{desired} running" + (f", {len(older)} old" if older else "") + last)
    if waiting:
        return Pending("; ".join(waiting), starting=True)
    return Healthy(f"{len(services)} service(s) converged")


def service_rows(state: SwarmState, stack: str) -> tuple[ServiceRow, ...]:
    address = {n.id: n.address or n.id[:12] for n in state.nodes}
    rows = []
    for service in state.services:
        tasks = _tasks(state, service)
        running = _running(state, service, tasks)
        rows.append(ServiceRow(service.short_name(stack), len(running), _desired(service, tasks),
                               tuple(sorted(address.get(t.node_id, t.node_id[:12]) for t in running)),
                               service.update_state))
    return tuple(rows)
