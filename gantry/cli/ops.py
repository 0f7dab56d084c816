"""Operator tasks that read hosts (status, releases, history, logs), free locks, and run the lab."""

from __future__ import annotations

import datetime
import os
import sys

from invoke import Collection, task

from gantry import audit, output, yamlio
from gantry.cli.base import confirm, flag_number, load_env, root_of, user_errors
from gantry.engines.hosts import commands
from gantry.engines.hosts.engine import targets_for
from gantry.engines.hosts.facts import parse_audit, parse_facts, split_sections
from gantry.engines.hosts.session import lock_holder
from gantry.errors import GantryError, UsageError


def _each_host(environment, fn, console: output.Console | None = None):
    """Open one connection per host, run fn(conn, layout), close; one outcome per host."""
    from gantry.remote.executor import (  # Fabric/paramiko: only tasks that connect load them
        HostConnection,
        run_parallel,
    )

    layout = commands.Layout(environment.base_dir)
    echo = console.command if console else None

    def one(target):
        with HostConnection(target, echo=echo) as conn:
            return fn(conn, layout)

    return run_parallel(targets_for(environment), one, label=lambda t: t.label,
                        max_parallel=environment.rollout.max_parallel)


def _raise_first(outcomes) -> None:
    errors = [o.error for o in outcomes if o.error]
    for e in errors[1:]:
        print(f"error: {e}", file=sys.stderr)
    if errors:
        raise errors[0]


def _url(ip: str, port: int, address: str) -> str:
    """Where a published port answers: the host's address for a wildcard bind, else the bound address."""
    ip = ip.strip("[]")  # an IPv6 bind may come bracketed ("[::]")
    host = address if ip in ("", "0.0.0.0", "::") else ip
    return f"http://{f'[{host}]' if ':' in host else host}:{port}/"


@task(help={"env": "environment name", "json": "print a JSON document on stdout"})
@user_errors
def status(c, env=None, json=False):
    """Show the live release, container health and lock holder of every host."""
    environment = load_env(c, env)
    project = environment.compose_project

    bluegreen = environment.engine == "bluegreen"

    def facts(conn, layout):
        cmd = commands.sequence(commands.facts(layout, project), commands.release_files(layout))
        if bluegreen:  # the live colour and the proxy (engine bluegreen)
            from gantry.engines.bluegreen import commands as bg_commands

            cmd = commands.sequence(cmd, bg_commands.facts(project, bg_commands.ProxyLayout(layout)))
        out = conn.run(cmd, step="status", check=False).stdout
        found = parse_facts(out)
        return found, commands.damaged_releases(split_sections(out).get("release-files", []), layout,
                                                found.releases), out

    outcomes = _each_host(environment, facts)
    now = datetime.datetime.now(datetime.timezone.utc)
    addresses = {h.label: h.address for h in environment.hosts}
    doc = {"environment": environment.name, "hosts": []}
    rows = []
    notes: list[str] = []
    for o in outcomes:
        if o.error:
            doc["hosts"].append({"host": o.host, "error": str(o.error)})
            rows.append((o.host, "-", "unreachable", "-", "-"))
            continue
        f, damaged, out = o.value
        for rid, missing in damaged.items():
            notes.append(f"{o.host}: release {rid} is damaged: missing {', '.join(missing)} "
                         f"(a rollback to it would fail; deploy again, or remove it)")
        containers = [{"service": x.service, "name": x.name, "state": x.state, "health": x.health,
                       "urls": list(dict.fromkeys(_url(ip, port, addresses[o.host]) for ip, port in x.published))}
                      for x in f.containers]
        lock = lock_holder(f.lock, now) if f.lock is not None else ""
        doc["hosts"].append({"host": o.host, "release": f.current, "releases": list(f.releases),
                             "containers": containers, "lock": lock, "damaged": damaged})
        health = ", ".join(f"{x.service}:{x.health or x.state}" for x in f.containers) or "no containers"
        urls = " ".join(u for c in containers for u in c["urls"]) or "-"
        live = f.current or "(none)"
        if bluegreen:
            extra = _colours(out, addresses[o.host], environment)
            doc["hosts"][-1].update(extra)
            live += f" ({extra['colour'] or 'no colour live'})"
            health += "; " + ", ".join(f"{c}: {s}" for c, s in extra["colours"].items())
            urls = extra["proxy"] or "proxy not running"
        rows.append((o.host, live, health, urls, lock or "-"))
    if json:
        output.print_json(doc)
    else:
        print(output.table(rows, ("host", "release", "services", "urls", "lock")))
    for note in notes:
        print(f"warning: {note}", file=sys.stderr)
    _raise_first(outcomes)


def _colours(out: str, address: str, environment) -> dict:
    from gantry.engines.bluegreen.facts import parse_bluegreen, status_of
    from gantry.engines.bluegreen.settings import routes

    return status_of(parse_bluegreen(out), address, routes(environment))


@task(help={"env": "environment name", "json": "print a JSON document on stdout"})
@user_errors
def releases(c, env=None, json=False):
    """List the releases kept on every host: id, when, who, git commit, outcome."""
    environment = load_env(c, env)

    def read(conn, layout):
        out = conn.run(commands.sequence(commands.facts(layout, environment.compose_project),
                                         commands.marker("audit"), commands.read_audit(layout)),
                       step="releases", check=False).stdout
        return parse_facts(out), parse_audit(out.split(f"{commands.MARK}audit", 1)[-1]).records

    outcomes = _each_host(environment, read)
    doc = {}
    for o in outcomes:
        if o.error:
            continue
        facts, records = o.value
        last = {}
        for r in records:
            last[r.get("release", "")] = r
        rows = []
        for rid in reversed(facts.releases):
            r = last.get(rid, {})
            mark = "* " if rid == facts.current else "  "
            rows.append((mark + rid, r.get("ended", "-"), r.get("who", "-"), r.get("git_commit", "-") or "-",
                         r.get("outcome", "-")))
        doc[o.host] = [dict(zip(("release", "when", "who", "git_commit", "outcome"), (row[0].strip(), *row[1:])))
                       for row in rows]
        if not json:
            print(f"{o.host} (* = current)")
            print(output.table(rows, ("release", "when", "who", "commit", "outcome")) + "\n")
    if json:
        output.print_json(doc)
    _raise_first(outcomes)


@task(help={"env": "environment name", "host": "only this host", "limit": "at most N entries (default 20; 0: all)",
            "json": "print a JSON list on stdout"})
@user_errors
def history(c, env=None, host=None, limit=None, json=False):
    """Show the audit trail of deploys and rollbacks, merged across hosts, newest first."""
    count = int(flag_number("limit", limit, 20, integer=True, high=10**6))
    environment = load_env(c, env)
    if host:
        hosts = [h for h in environment.hosts if host in (h.label, h.address)]
        if not hosts:
            raise UsageError(f"--host {host}", "no such host in this environment",
                             f"hosts: {', '.join(h.label for h in environment.hosts)}")
        from dataclasses import replace

        environment = replace(environment, hosts=hosts)
    outcomes = _each_host(environment, lambda conn, layout: parse_audit(
        conn.run(commands.read_audit(layout), step="history").stdout).records)
    rows = audit.merge_histories({o.host: o.value for o in outcomes if not o.error}, limit=count)
    if json:
        output.print_json(rows)
    else:
        print(output.table([(r.get("started", ""), r["host"], r.get("event", ""), r.get("release", ""),
                             r.get("outcome", ""), r.get("who", ""), r.get("failing_service", ""))
                            for r in rows], ("started", "host", "event", "release", "outcome", "who", "failing")))
    _raise_first(outcomes)


@task(help={"env": "environment name", "service": "service name (default: all)",
            "lines": "lines per host (default 50)"})
@user_errors
def logs(c, env=None, service=None, lines=None):
    """Show the last log lines of a service on every host."""
    count = int(flag_number("lines", lines, 50, integer=True, high=10**6))
    if service is not None and not commands.SERVICE_NAME.match(service):
        raise UsageError("--service", f"{yamlio.excerpt(service)} is not a service name",
                         "service names are letters, digits, '.', '_' and '-', not starting with '-'")
    environment = load_env(c, env)
    argv = commands.compose_logs(environment.compose_project, count, service)
    outcomes = _each_host(environment, lambda conn, layout: conn.run(argv, step="logs", check=False))
    for o in outcomes:
        if o.error:
            continue
        print(f"== {o.host} ==")
        print((o.value.stdout + o.value.stderr).rstrip())
    _raise_first(outcomes)


@task(help={"env": "environment name", "yes": "do not ask for confirmation"})
@user_errors
def lock_release(c, env=None, yes=False):
    """Free the deploy lock on every host (for a lock left by a cancelled job); says whose lock it was."""
    environment = load_env(c, env)
    confirm(environment, yes, "Free the deploy lock of", "lock not released")

    def free(conn, layout):
        held = parse_facts(conn.run(commands.facts(layout, environment.compose_project), step="lock",
                                    check=False).stdout).lock
        conn.run(commands.release_lock(layout), step="unlock")
        return held

    outcomes = _each_host(environment, free)
    for o in outcomes:
        if not o.error:
            print(f"{o.host}: " + (f"released the lock of {lock_holder(o.value)}" if o.value else "was not locked"))
    _raise_first(outcomes)


@task(help={"hosts": "how many lab hosts (default 3)"})
@user_errors
def lab_up(c, hosts=None):
    """Bring up local lab hosts (network namespaces with sshd + dockerd) and a registry with the app images."""
    from gantry import lab

    hosts = int(flag_number("hosts", hosts, 3, integer=True, low=1, high=50))
    root = root_of(c)
    up = lab.lab_up(root, int(hosts), log=lambda m: print(m, file=sys.stderr))
    for env_name in ("lab", "local"):
        _lab_secrets(root, env_name)
    for h in up.hosts:
        print(f"{h.name}  {h.address}  ssh root@{h.address} -i {up.identity_file}")
    print(f"inventory: {up.inventory}\nregistry:  {up.registry}")


def _lab_secrets(root, env_name: str) -> None:
    """Give the lab environments random secrets once, so the example app deploys with no manual step."""
    import secrets as pysecrets

    from gantry.secrets import EXAMPLE_FILE, parse_env_text

    path = root / f"secrets.{env_name}.env"
    example = root / EXAMPLE_FILE
    if path.exists() or not example.is_file():
        return
    names = parse_env_text(example.read_text())
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "w") as fh:
        fh.write("# generated by `inv lab.up` for the lab only\n")
        fh.writelines(f"{name}={pysecrets.token_urlsafe(18)}\n" for name in names)
    print(f"wrote {path.name} with random values (mode 0600)", file=sys.stderr)


@task
@user_errors
def lab_down(c):
    """Stop every lab process and remove its namespaces, mounts, links and state."""
    from gantry import lab

    lab.lab_down(root_of(c), log=lambda m: print(m, file=sys.stderr))


@task
@user_errors
def lab_status(c):
    """List the lab hosts that are up."""
    from gantry import lab

    up = lab.lab_status(root_of(c))
    if up is None:
        print("lab is down")
        return
    for h in up.hosts:
        print(f"{h.name}  {h.address}")


def register(ns: Collection) -> None:
    for t in (status, releases, history, logs):
        ns.add_task(t)
    lock_ns = Collection("lock")
    lock_ns.add_task(lock_release, name="release")
    ns.add_collection(lock_ns)
    lab_ns = Collection("lab")
    lab_ns.add_task(lab_up, name="up")
    lab_ns.add_task(lab_down, name="down")
    lab_ns.add_task(lab_status, name="status")
    ns.add_collection(lab_ns)


__all__ = ["register", "GantryError"]
