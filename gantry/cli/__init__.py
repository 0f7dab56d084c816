"""Invoke tasks: flags -> pipeline -> output. Every GantryError becomes `Exit(message, code)` here.

Exit codes: see gantry.errors (0 ok, 1 invalid input, 2 usage, 3 deploy failed/rolled back,
4 host unreachable or host key refused, 5 lock held, 130 interrupted).
"""

from __future__ import annotations

from pathlib import Path

from invoke import Collection

from gantry.cli import day2 as cli_day2
from gantry.cli import ops as cli_ops
from gantry.cli.compose_config import compose_config
from gantry.cli.deploy import deploy, plan, rollback
from gantry.cli.offline import check, envs, render, validate


def make_collection(root: Path) -> Collection:
    """The whole task tree, bound to a project root (the directory holding tasks.py)."""
    ns = Collection()
    for t in (envs, validate, render, check, plan, deploy, rollback):
        ns.add_task(t)
    compose_ns = Collection("compose")
    compose_ns.add_task(compose_config, name="config")
    ns.add_collection(compose_ns)
    cli_ops.register(ns)
    cli_day2.register(ns)
    ns.configure({"gantry": {"root": str(root)}})
    return ns
