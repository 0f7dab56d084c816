"""Value rules of an environment that its types cannot express: names, paths, ranges.

Environment and project names become directory names on the hosts and part of the compose project name,
so they follow Compose's own project-name rule.
"""

from __future__ import annotations

import math
import posixpath
import re

from gantry import yamlio
from gantry.errors import Problem
from gantry.units import parse_size

NAME_PATTERN = re.compile(r"[a-z0-9][a-z0-9_-]*\Z")
NAME_RULE = "lowercase letters, digits, '-' and '_', starting with a letter or digit"
MAX_SECONDS = 86400.0  # a timeout beyond a day is a typo; beyond ~1e9 Python's own waits overflow


def compose_project_name(project: str, env: str) -> str:
    """The compose project of a project's environment on a host: one name per (project, env), never shared.

    `{project}-{env}` when env has no '-' (prod, staging: the name Gantry always gave, so their containers,
    networks and volumes stay theirs). Such a name's env is its part after the last '-'. An env with '-' is
    written after `-_` with '_' as '__' and '-' as '_d' (a prefix code without '-'): `a` + `b-c` is
    `a-_b_dc`, which no dash-free env can give (its part after the last '-' starts with '_'), while `a-b` +
    `c` keeps `a-b-c`. Both parts follow NAME_PATTERN; so does the result (Compose's rule)."""
    if "-" not in env:
        return f"{project}-{env}"
    return f"{project}-_" + env.replace("_", "__").replace("-", "_d")


def check_name(kind: str, name: str) -> str:
    """'' when `name` may be an environment or project name, else what is wrong with it."""
    if NAME_PATTERN.match(name):
        return ""
    return f"{kind} name {yamlio.excerpt(name)} is not allowed: use {NAME_RULE}"


def check_values(env, source: str) -> list[Problem]:
    """Value rules the types cannot express."""
    out = []
    if env.policy.level not in ("prod", "lab", "dev", "local"):
        out.append(Problem(f"{source}: policy.level", f"unknown level '{env.policy.level}'",
                           "use one of: prod, lab, dev, local"))
    if env.policy.scan.severity.upper() not in ("LOW", "MEDIUM", "HIGH", "CRITICAL"):
        out.append(Problem(f"{source}: policy.scan.severity", f"unknown severity '{env.policy.scan.severity}'",
                           "use LOW, MEDIUM, HIGH or CRITICAL"))
    if env.rollout.rollback not in ("fleet", "host"):
        out.append(Problem(f"{source}: rollout.rollback", f"unknown mode '{env.rollout.rollback}'",
                           "use fleet or host"))
    budget = env.policy.image_size_budget
    if budget and not parse_size(budget, decimal=True):
        out.append(Problem(f"{source}: policy.image_size_budget", f"{yamlio.excerpt(budget)} is not a size",
                           "use a size like 200MB or 1.5GB (MiB, GiB: powers of 1024)"))
    if budget and env.images.size_budget_mb:
        out.append(Problem(f"{source}: images.size_budget_mb", "is set, and so is policy.image_size_budget",
                           "keep policy.image_size_budget only"))
    if env.images.transfer not in ("registry", "ssh"):
        out.append(Problem(f"{source}: images.transfer", f"unknown transfer '{env.images.transfer}'",
                           "use registry (hosts pull) or ssh (docker save | ssh docker load)"))
    if env.keep_releases < 2:
        out.append(Problem(f"{source}: keep_releases", "must be at least 2",
                           "the current and the previous release are always kept"))
    bad = check_name("project", env.project)
    if bad:
        out.append(Problem(f"{source}: project", bad, "e.g. my-app"))
    if not env.deploy_path.startswith("/"):
        out.append(Problem(f"{source}: deploy_path", "must be an absolute path", "e.g. /srv/gantry"))
    elif _unsafe_path(env.deploy_path):
        out.append(Problem(f"{source}: deploy_path", "must be a plain absolute path (no '.' or '..' parts, no "
                           "control characters)", "e.g. /srv/gantry"))
    for i, h in enumerate(env.hosts):
        if not 0 < h.port < 65536:
            out.append(Problem(f"{source}: hosts[{i}].port", f"{h.port} is not a TCP port", "use 1-65535"))
    out += [Problem(f"{source}: {key}", what, hint) for key, what, hint in _range_problems(env)]
    return out


def _unsafe_path(path: str) -> bool:
    parts = path.strip("/").split("/")
    return (posixpath.normpath(path) != path.rstrip("/") and path != "/") or any(p in (".", "..") for p in parts) \
        or not path.isprintable()


def _range_problems(env):
    """Numbers that type-check but make no sense: negative sizes, zero parallelism, NaN or endless timeouts."""
    ints = [("rollout.batch_size", env.rollout.batch_size, 0, "0 means all hosts in one batch"),
            ("rollout.max_parallel", env.rollout.max_parallel, 1, "at least one host at a time"),
            ("ssh.connect_retries", env.ssh.connect_retries, 0, "0 means no retry")]
    ints += [(f"notify[{i}].retries", n.retries, 0, "0 means no retry") for i, n in enumerate(env.notify)]
    for key, value, low, hint in ints:
        if value < low:
            yield key, f"must be at least {low}, got {value}", hint
    seconds = [("ssh.connect_timeout", env.ssh.connect_timeout, False), ("ssh.command_timeout", env.ssh.command_timeout,
               False), ("health.timeout", env.health.timeout, True), ("health.interval", env.health.interval, False),
               ("health.settle", env.health.settle, True), ("health.margin", env.health.margin, True),
               ("secrets.timeout", env.secrets.timeout, False)]
    seconds += [(f"notify[{i}].timeout", n.timeout, False) for i, n in enumerate(env.notify)]
    for key, value, zero_ok in seconds:
        if math.isnan(value) or not (0 <= value <= MAX_SECONDS) or (value == 0 and not zero_ok):
            low = "0" if zero_ok else "more than 0"
            yield key, f"must be a number of seconds from {low} to {MAX_SECONDS:.0f}, got {value}", "e.g. 10"


def engine_problems(env):
    """`engine:` and the places it needs: hosts for the hosts engine, managers for swarm (key, what, hint).

    Located by the loader (file:line: key), since the walker knows the marks."""
    if not engine_exists(env.engine):
        yield "engine", f"unknown engine {yamlio.excerpt(env.engine)}", \
            "use hosts (compose over SSH), swarm, or the name of a folder of gantry/engines/"
        return
    if env.engine == "swarm" and env.hosts:
        yield "hosts", "is not used with engine: swarm (Swarm places the tasks)", \
            "list the swarm's managers under `managers:` instead"
    if env.engine != "swarm" and env.managers:
        yield "managers", "is only used with engine: swarm", "add `engine: swarm`, or list hosts under `hosts:`"
    for i, h in enumerate(env.managers):
        if not 0 < h.port < 65536:
            yield f"managers[{i}].port", f"{h.port} is not a TCP port", "use 1-65535"


def engine_exists(name: str) -> bool:
    """An engine is a package gantry.engines.<name> (found, not imported: config stays below the engines)."""
    import importlib.util

    return name.isidentifier() and importlib.util.find_spec(f"gantry.engines.{name}") is not None
