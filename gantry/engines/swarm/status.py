"""`inv status` and `inv logs` of a swarm (read-only), through the first manager that answers: the manager's
release and lock, each service's replicas running/desired and the nodes its tasks run on, and the nodes; the
services' last log lines (`docker service logs`, which gathers them from every node)."""

from __future__ import annotations

import threading

from gantry.engines.swarm import commands
from gantry.engines.swarm.engine import SwarmEngine
from gantry.engines.swarm.verdict import service_rows
from gantry.errors import UsageError


def read_status(ctx) -> dict:
    (session,) = SwarmEngine(ctx.env).sessions(ctx, threading.Event())
    try:
        session.connect()
        facts = session.observe()
        state = session.state
    finally:
        session.close()
    return {"environment": ctx.env.name, "engine": "swarm", "manager": session.host, "release": facts.current,
            "releases": list(facts.releases), "lock": session.lock_holder(ctx.now()) if facts.lock else "",
            "services": [{"service": r.service, "running": r.running, "desired": r.desired, "nodes": list(r.nodes),
                          "update": r.update} for r in service_rows(state, session.settings.stack)],
            "nodes": [{"id": n.id, "address": n.address, "role": n.role, "state": n.state,
                       "availability": n.availability} for n in state.nodes]}


def read_logs(ctx, lines: int, service: str | None) -> tuple[str, str]:
    """(the manager read from, its output): the last `lines` of each service of the stack, or of `service`."""
    (session,) = SwarmEngine(ctx.env).sessions(ctx, threading.Event())
    stack = session.settings.stack
    try:
        session.connect()
        cmd = commands.service_logs(f"{stack}_{service}", lines) if service else commands.stack_logs(stack, lines)
        out = session.conn.run(cmd, step="logs", check=False)
    finally:
        session.close()
    if service and not out.ok:  # `docker service logs` of a service the stack does not have
        lines = (out.stderr or out.stdout).strip().splitlines()
        said = ctx.redact(lines[-1] if lines else "no answer")
        raise UsageError(f"{session.host}: --service", f"Swarm has no logs of {stack}_{service}: {said}",
                         "`inv status` lists the stack's services")
    return session.host, out.stdout + out.stderr
