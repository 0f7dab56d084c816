"""Day-2 and first-day tasks: `init` (an existing app repository -> Gantry's files)."""

from __future__ import annotations

import contextlib
import datetime
import io
import json as _json
import os
import sys
import time
from pathlib import Path

from invoke import Collection, Exit, task

from gantry import init as init_stage
from gantry.cli.base import only_host, root_of, user_errors
from gantry.errors import Problem, ProblemList, UsageError

FIRST_PROBLEM_LINES = 16


def _repo_files(root: Path) -> list[str]:
    """The files in the folders where compose files live (not a full walk: node_modules can be huge)."""
    out = []
    for folder in init_stage.SEARCH_DIRS:
        d = root / folder if folder else root
        if d.is_dir():
            out += [str(p.relative_to(root)) for p in sorted(d.iterdir()) if p.is_file()]
    return out


def _write_new(path: Path, text: str) -> bool:
    """Create path with text; False (and nothing written) when it exists, even as a dangling symlink."""
    path.parent.mkdir(parents=True, exist_ok=True)
    try:
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o644)
    except FileExistsError:
        return False
    with os.fdopen(fd, "w") as fh:
        fh.write(text)
    return True


@task(help={"workflow": "also write .github/workflows/deploy.yml (validate on push, deploy on a v* tag)"})
@user_errors
def init(c, workflow=False):
    """Write environments/staging.yml and prod.yml, secrets.example.env and .gitignore lines for this repo.

    Never overwrites a file; ends with the first problems `gantry validate --env prod` reports.
    """
    root = root_of(c)
    files = _repo_files(root)
    found = init_stage.find_compose_files(files)
    texts = {f: (root / f).read_text() for f in (found.all_files if found else [])}
    gitignore = root / ".gitignore"
    if gitignore.is_symlink():
        gitignore = gitignore.resolve()
    planned = init_stage.plan_files(files, texts, root.name, gitignore=gitignore.read_text()
                                    if gitignore.is_file() else None, workflow=workflow)
    print(f"compose files: {', '.join(found.all_files)}")
    for rel, text in planned.items():
        if rel == ".gitignore":
            with open(root / rel, "a") as fh:
                fh.write(text)
            added = [line for line in text.splitlines() if line and not line.startswith("#")]
            print(f"  appended to .gitignore: {', '.join(added)}")
        elif _write_new(root / rel, text):
            print(f"  wrote {rel}")
        else:
            print(f"  kept {rel} (it exists; not overwritten)")
    print("\nnext: replace the placeholder hosts, then run `gantry validate --env prod`. It says now:\n")
    from gantry.cli.offline import validate

    warnings = io.StringIO()
    try:
        with contextlib.redirect_stderr(warnings):
            validate(c, env="prod")
    except Exit as exc:
        lines = [line for line in str(exc.message or "").splitlines() if line.strip()]
        shown = lines[:-1][:FIRST_PROBLEM_LINES]
        print("\n".join(f"  {line}" for line in shown))
        if len(lines) - 1 > len(shown):
            print("  ...")
        print(f"  {lines[-1]}")
    count = warnings.getvalue().count("warning: ")
    if count:
        print(f"  (and {count} warnings: run `gantry validate --env prod` to see them)")


def run_notified(run, environment, secrets: dict[str, str], event: str, release: str, console, redact):
    """Run a deploy or rollback (run() -> RunResult) and send its outcome to the environment's webhooks."""
    from gantry import notify
    from gantry.cli.base import who
    from gantry.errors import GantryError

    if not environment.notify:
        return run()
    started, clock = datetime.datetime.now(datetime.timezone.utc), time.monotonic()
    try:
        result = run()
        doc = result.to_dict()
    except GantryError as exc:
        result, doc = exc, {"action": event, "release": release, "outcome": "failed", "exit_code": exc.exit_code,
                            "error": str(exc), "hosts": []}
    ended = datetime.datetime.now(datetime.timezone.utc)
    body = notify.make_document(doc, environment=environment.name, project=environment.project, who=who(),
                                started=started.isoformat(timespec="seconds"),
                                ended=ended.isoformat(timespec="seconds"), seconds=time.monotonic() - clock,
                                redact=redact)
    sent = notify.send_all(environment.notify, event, body, secrets,
                           warn=lambda text: console.say(text, always=True), redact=redact)
    if sent:
        console.say(f"notified {sent} webhook(s)")
    if isinstance(result, GantryError):
        raise result
    return result


@task(help={"env": "environment name", "json": "print a JSON document on stdout"})
@user_errors
def drift(c, env=None, json=False):
    """Compare what runs on every host with its `current` release; exit 0 when none drifted, 6 when one did.

    Reports containers missing or extra, config hashes and image digests that differ from the release,
    a `current` that points at a missing release, and a lock older than a deploy can take.
    """
    from gantry import output
    from gantry.cli.base import load_env
    from gantry.cli.ops import _raise_first
    from gantry.engines.hosts import reads
    from gantry.plan import EXIT_CHANGES

    environment = load_env(c, env)
    outcomes = reads.drift(environment, datetime.datetime.now(datetime.timezone.utc))
    doc = {"environment": environment.name, "drift": False, "hosts": []}
    for o in outcomes:
        if o.error:
            doc["hosts"].append({"host": o.host, "error": str(o.error)})
            continue
        facts, items = o.value.facts, o.value.items
        doc["drift"] = doc["drift"] or bool(items)
        doc["hosts"].append({"host": o.host, "release": facts.current, "drift": [vars(d) for d in items]})
    if json:
        output.print_json(doc)
    else:
        for h in doc["hosts"]:
            if "error" in h:
                continue
            head = f"{h['host']} ({h['release'] or 'no release'}): "
            print(head + ("no drift" if not h["drift"] else f"{len(h['drift'])} drift(s)"))
            for d in h["drift"]:
                print(f"  {d['kind']:<15} {d['service'] or '-':<12} {d['detail']}")
    _raise_first(outcomes)
    if doc["drift"]:
        raise Exit(code=EXIT_CHANGES)


def _place(environment, service: str):
    """Where the engine runs the service (blue/green: a proxied one runs as its live colour's project)."""
    if environment.engine != "bluegreen":
        return None
    from gantry.engines.bluegreen.reads import place_of

    return place_of(environment, service)


@task(help={"env": "environment name", "service": "the compose service to run in", "host": "only this host"})
@user_errors
def exec_(c, env=None, service=None, host=None):
    """Run a command in a service's container on every host (or one): gantry exec --env E --service S -- CMD...

    The container has the live release's environment, secrets included. Output is shown per host; the exit
    code is the command's (the first non-zero one).
    """
    from gantry.cli.base import load_env
    from gantry.cli.ops import _raise_first, _secret_redactor
    from gantry.engines.hosts import commands, reads
    from gantry.errors import UsageError

    environment = load_env(c, env)
    # The words after `--`, from argv itself: Invoke's parser joins its remainder into one string.
    cmd = sys.argv[sys.argv.index("--") + 1:] if "--" in sys.argv else []
    if not service or not cmd:
        raise UsageError("exec", "give --service and a command after --", "gantry exec --env prod --service web -- "
                         "sh -c 'echo hi'")
    if not commands.SERVICE_NAME.match(service):
        raise UsageError("--service", "is not a service name",
                         "service names are letters, digits, '.', '_' and '-', not starting with '-'")
    environment = only_host(environment, host)
    redact = _secret_redactor(environment)
    outcomes = reads.exec_in_service(environment, service, cmd, _place(environment, service))
    codes = []
    for o in outcomes:
        if o.error:
            continue
        print(f"== {o.host} (exit {o.value.exit_code}) ==")
        text = redact(o.value.text.rstrip())
        if text:
            print(text)
        codes.append(o.value.exit_code)
    _raise_first(outcomes)
    first = next((code for code in codes if code), 0)
    if first:
        raise Exit(code=first)


@task(help={"env": "environment name", "service": "the compose service to open a shell in",
            "host": "the host (default: the first one)", "command": "the program to run (default: sh)"})
@user_errors
def shell(c, env=None, service=None, host=None, command="sh"):
    """Open an interactive shell (a TTY through SSH) in a service's container of the live release on one host.

    The container has the live release's environment, secrets included (they come from the release's 0600
    .env on the host, never from a command line); what it prints is shown with the secret values masked.
    The exit code is the shell's.
    """
    from gantry.cli.base import load_env
    from gantry.engines.hosts import reads
    from gantry.errors import UsageError
    from gantry.output import MaskingWriter
    from gantry.prepare import read_secrets
    from gantry.shell import split_words

    environment = load_env(c, env)
    if not service:
        raise UsageError("shell", "give --service", "gantry shell --env prod --service web [--host HOST]")
    environment = only_host(environment, host)
    if len(environment.hosts) > 1:
        print(f"shell on {environment.hosts[0].label} (the first of {len(environment.hosts)} hosts; --host picks "
              "another)", file=sys.stderr)
    secrets, _ = read_secrets(environment, os.environ)
    out = MaskingWriter(sys.stdout, secrets.values.values())  # what the container prints, secrets masked
    try:
        code = reads.shell_in_service(environment, service, split_words(command) or ["sh"], out,
                                      _place(environment, service))
    finally:
        out.finish()
    if code:
        raise Exit(code=code)


@task(help={"env": "environment name", "json": "print a JSON document on stdout",
            "no_push": "build and check only; do not push (images.transfer: ssh never pushes)",
            "sarif": "print the policy findings on the built images as SARIF 2.1.0 on stdout (the rest on stderr)"})
@user_errors
def build(c, env=None, json=False, no_push=False, sarif=False):
    """Build the services that have `build:` on the deploying side's engine, report size and layers, push.

    The engine is images.build_host (over SSH, strict host keys), else images.docker_host, else DOCKER_HOST,
    else the local one; the stage is images.target
    (else build.target). Each image is tagged as its compose `image:` and as <repository>:<release id>.
    The policy judges each image (policy.image_size_budget, build tools in a prod image); an unwaived
    error stops before anything is pushed. With images.transfer: ssh nothing is pushed: `gantry deploy`
    sends the images to the hosts.
    """
    from gantry import build as build_stage
    from gantry import output, policy, prepare
    from gantry.cli.base import git_commit, load_env, root_of, today, who
    from gantry.policy.built import check_built

    environment = load_env(c, env)
    prep = prepare.prepare(environment, cache=True)
    if prep.problems or prep.secret_problems:
        raise ProblemList(list(prep.problems + prep.secret_problems))
    rel = prepare.build_release(prep, now=datetime.datetime.now(datetime.timezone.utc), who=who(),
                                 git_commit=git_commit(root_of(c)))
    cfg = environment.images
    specs = build_stage.build_specs(prep.model.data.get("services", {}), environment.compose_project, cfg.target,
                                    environment.source)
    if not specs:
        raise UsageError(f"{environment.source}", "no service has `build:`", "nothing to build")
    engine = build_stage.engine_of(environment)
    built = [engine.build(spec, rel.id) for spec in specs]
    report = check_built(build_stage.judged(built), policy.settings_for(environment), today=today())
    warnings = build_stage.policy_lines(report, environment.source, "warn")
    errors = build_stage.policy_lines(report, environment.source, "error")
    blocking = report.blocking
    pushed = cfg.push and not no_push and cfg.transfer != "ssh" and not blocking
    say = sys.stderr if sarif else sys.stdout
    for b in built:
        layers = f"{b.layers} layer{'s' if b.layers != 1 else ''}"
        print(f"{b.spec.service}: built {' and '.join(b.tags)} on {engine.name} (target "
              f"{b.spec.target or 'last stage'}): {b.size / 1e6:.1f} MB, {layers}", file=say)
        if pushed:
            engine.push(b.tags)
            print(f"{b.spec.service}: pushed {' and '.join(b.tags)}", file=say)
    for text in warnings:
        print(f"warning: policy: {text}", file=sys.stderr)
    if cfg.transfer == "ssh" and not blocking:
        print(f"not pushed: images.transfer is ssh; `gantry deploy --env {environment.name}` sends them to the hosts",
              file=say)
    if sarif:
        print(policy.render_sarif(report, source_files=[environment.source]), end="")
    elif json:
        output.print_json({"environment": environment.name, "release": rel.id, "engine": engine.name,
                           "pushed": pushed, "warnings": warnings, "errors": errors,
                           "policy": _json.loads(policy.render_json(report)), "images": _images_json(built)})
    if blocking:
        raise ProblemList([Problem(f"{environment.source}: policy", p, "fix the waiver or override")
                           for p in report.problems]
                          + [Problem("policy", text, "nothing was pushed; fix the image, or add a waiver")
                             for text in errors])


def _images_json(built) -> list[dict]:
    return [{"service": b.spec.service, "tags": list(b.tags), "target": b.spec.target, "size": b.size,
             "layers": b.layers, "build_tools": list(b.tools)} for b in built]


def register(ns: Collection) -> None:
    ns.add_task(init)
    ns.add_task(drift)
    ns.add_task(exec_, name="exec")
    ns.add_task(shell)
    ns.add_task(build)
