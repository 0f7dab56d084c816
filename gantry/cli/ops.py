"""Operator tasks that read hosts (status, releases, history, logs), free locks, and run the lab."""

from __future__ import annotations

import datetime
import os
import sys

from invoke import Collection, task

from gantry import audit, output, yamlio
from gantry.cli.base import confirm, flag_number, load_env, only_host, root_of, user_errors
from gantry.engines.hosts import commands, reads
from gantry.engines.hosts.support import lock_holder
from gantry.errors import GantryError, UsageError


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
    """Show the live release, container health and lock holder of every host (of a swarm: its services)."""
    environment = load_env(c, env)
    if environment.engine == "swarm":
        return _swarm_status(environment, json)
    project = environment.compose_project
    bluegreen = environment.engine == "bluegreen"
    extra = None
    if bluegreen:  # the live colour and the proxy (engine bluegreen)
        from gantry.engines.bluegreen import commands as bg_commands

        def extra(layout):
            return bg_commands.facts(project, bg_commands.ProxyLayout(layout))
    outcomes = reads.status(environment, extra=extra)
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
        f, damaged, out = o.value.facts, o.value.damaged, o.value.raw
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
            seen = _colours(out, addresses[o.host], environment)
            doc["hosts"][-1].update(seen)
            live += f" ({seen['colour'] or 'no colour live'})"
            health += "; " + ", ".join(f"{c}: {s}" for c, s in seen["colours"].items())
            urls = seen["proxy"] or "proxy not running"
        rows.append((o.host, live, health, urls, lock or "-"))
    if json:
        output.print_json(doc)
    else:
        print(output.table(rows, ("host", "release", "services", "urls", "lock")))
    for note in notes:
        print(f"warning: {note}", file=sys.stderr)
    _raise_first(outcomes)


def _swarm_status(environment, as_json: bool) -> None:
    from gantry.cli.base import run_context
    from gantry.engines.swarm.status import read_status

    doc = read_status(run_context(environment, output.Console(quiet=True), lambda text: text))
    if as_json:
        output.print_json(doc)
        return
    print(f"manager {doc['manager']}: release {doc['release'] or '(none)'}" + (f", locked by {doc['lock']}"
                                                                                 if doc["lock"] else ""))
    print(output.table([(s["service"], f"{s['running']}/{s['desired']}", " ".join(s["nodes"]) or "-",
                         s["update"] or "-") for s in doc["services"]], ("service", "replicas", "nodes", "update")))
    print(output.table([(n["address"], n["role"], n["state"], n["availability"]) for n in doc["nodes"]],
                       ("node", "role", "state", "availability")))


def _colours(out: str, address: str, environment) -> dict:
    from gantry.engines.bluegreen.facts import parse_bluegreen, status_of
    from gantry.engines.bluegreen.settings import routes

    return status_of(parse_bluegreen(out), address, routes(environment))


@task(help={"env": "environment name", "json": "print a JSON document on stdout"})
@user_errors
def releases(c, env=None, json=False):
    """List the releases kept on every host: id, when, who, git commit, outcome."""
    environment = load_env(c, env)
    outcomes = reads.releases(environment)
    doc = {}
    for o in outcomes:
        if o.error:
            continue
        facts, records = o.value.facts, o.value.records
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
    outcomes = reads.history(only_host(environment, host))
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
    redact = _secret_redactor(environment)  # an app that prints a secret it knows: masked here too
    if environment.engine == "swarm":  # Swarm gathers every node's logs on the manager
        from gantry.cli.base import run_context
        from gantry.engines.swarm.status import read_logs

        host, text = read_logs(run_context(environment, output.Console(quiet=True), redact), count, service)
        print(f"== {host} (swarm manager) ==")
        print(redact(text.rstrip()))
        return
    projects: tuple[str, ...] = ()
    if environment.engine == "bluegreen":  # the proxied services run as a colour's own compose project
        from gantry.engines.bluegreen.documents import COLOURS, colour_project

        project = environment.compose_project
        projects = (project, *(colour_project(project, c) for c in COLOURS))
    outcomes = reads.logs(environment, count, service, projects)
    for o in outcomes:
        if o.error:
            continue
        print(f"== {o.host} ==")
        print(redact(o.value.rstrip()))
    _raise_first(outcomes)


def _secret_redactor(environment):
    """Masks the environment's secret values this machine knows (secrets file, secrets.command, the job's
    environment); what it does not know it cannot mask."""
    from gantry.output import make_redactor
    from gantry.prepare import read_secrets

    secrets, _ = read_secrets(environment, os.environ)
    return make_redactor(secrets.values.values())


@task(help={"env": "environment name", "yes": "do not ask for confirmation"})
@user_errors
def lock_release(c, env=None, yes=False):
    """Free the deploy lock on every host (for a lock left by a cancelled job); says whose lock it was."""
    environment = load_env(c, env)
    confirm(environment, yes, "Free the deploy lock of", "lock not released")

    outcomes = reads.release_lock(environment)
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


@task(help={"managers": "how many swarm managers (default 1)", "workers": "how many swarm workers (default 2)"})
@user_errors
def lab_swarm(c, managers=None, workers=None):
    """Bring up lab hosts and make them a Docker Swarm (the first hosts manage); writes .gantry/lab/managers.yml."""
    from gantry import lab

    managers = int(flag_number("managers", managers, 1, integer=True, low=1, high=7))
    workers = int(flag_number("workers", workers, 2, integer=True, low=0, high=20))
    root = root_of(c)
    up, swarm = lab.lab_swarm(root, managers, workers, log=lambda m: print(m, file=sys.stderr))
    _lab_secrets(root, "swarm")
    for h in swarm.hosts:
        print(f"{h.name}  {h.address}  {swarm.role(h)}")
    print(f"managers: {up.inventory.parent / 'managers.yml'}  (environments/swarm.yml)\nregistry: {up.registry}")


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
    lab_ns.add_task(lab_swarm, name="swarm")
    lab_ns.add_task(lab_status, name="status")
    ns.add_collection(lab_ns)


__all__ = ["register", "GantryError"]
