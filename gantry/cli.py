"""Invoke tasks: flags -> pipeline -> output. Every GantryError becomes `Exit(message, code)` here.

Exit codes: see gantry.errors (0 ok, 1 invalid input, 2 usage, 3 deploy failed/rolled back,
4 host unreachable or host key refused, 5 lock held, 130 interrupted).
"""

from __future__ import annotations

import datetime
import os
import re
import sys
from pathlib import Path

from invoke import Collection, task

from gantry import cli_day2, cli_ops, compose, config, output, pipeline, release, yamlio
from gantry.cli_base import (
    confirm,
    fail,
    finish_run,
    flag_number,
    git_commit,
    load_env,
    root_of,
    run_context,
    run_hooks,
    scan_images,
    today,
    user_errors,
    who,
)
from gantry.cli_compose import compose_config, read_user_file
from gantry.deploy import Driver, targets_for
from gantry.errors import EXIT_INVALID, GantryError, ProblemList, UsageError
from gantry.health import service_specs
from gantry.init import placeholder_hosts
from gantry.notify import notify_problems

RELEASE_ID = re.compile(r"[0-9]{8}T[0-9]{6}Z-[0-9a-f]{10}\Z")
LEVELS = ("prod", "lab", "dev", "local")

# -- offline tasks ----------------------------------------------------------------------------------


@task
@user_errors
def envs(c):
    """List the environments with their hosts and compose files."""
    for name in config.list_environments(root_of(c)):
        try:
            env = config.load_environment(root_of(c), name)
        except (GantryError, ProblemList) as exc:
            print(f"{name}: INVALID ({str(exc).splitlines()[0]})")
            continue
        hosts = ", ".join(h.label for h in env.hosts) or (f"(from {env.inventory}: not created yet)"
                                                          if env.inventory else "(none)")
        print(f"{name}\n  hosts:   {hosts}\n  compose: {' + '.join(env.compose_files)}\n"
              f"  policy:  {env.policy.level}")


@task(help={"env": "environment name (environments/<env>.yml)"})
@user_errors
def validate(c, env=None):
    """Check that an environment can be deployed: config, compose files, variables, secrets, policy."""
    environment = load_env(c, env)
    prep = pipeline.prepare(environment, raw=True)
    report = pipeline.check(prep, today=today())
    problems = [str(p) for p in placeholder_hosts(environment)]
    problems += [str(p) for p in prep.problems + prep.secret_problems]
    problems += [str(p) for p in notify_problems(environment, prep.secrets.declared)]
    missing = config.inventory_problem(environment)
    if missing and environment.inventory != config.LAB_INVENTORY:
        problems.append(str(missing))
    elif missing:
        print(f"warning: {missing.where}: {missing.what}", file=sys.stderr)
    problems += [str(p) for p in report.problems]
    problems += [f"policy {f.rule}: services.{f.service} {f.path}: {f.message}" for f in report.findings
                 if f.severity == "error" and not f.waived]
    for w in environment.warnings + prep.warnings:
        print(f"warning: {w}", file=sys.stderr)
    for f in report.findings:
        if f.severity == "warn" and not f.waived:
            print(f"warning: policy {f.rule}: {f.service}: {f.message}", file=sys.stderr)
    if problems:
        n = len(problems)
        raise fail("\n".join(problems) + f"\n\n{environment.name}: {n} problem{'s' if n != 1 else ''} found.",
                    EXIT_INVALID)
    print(f"{environment.name}: valid ({len(prep.model.data.get('services', {}))} services, "
          f"{len(environment.hosts)} hosts, {len(prep.secrets.names)} secrets)")


@task(help={"env": "environment name", "out": "write the release bundle (compose.yaml, .env, manifest.json) here"})
@user_errors
def render(c, env=None, out=None):
    """Print the merged, interpolated compose file that would be deployed (secrets stay ${NAME})."""
    if out is not None:
        release.check_bundle_dir(Path(out))  # before anything is computed or written
    environment = load_env(c, env)
    prep = pipeline.prepare(environment)
    if prep.problems or (out and prep.secret_problems):
        raise ProblemList(list(prep.problems + (prep.secret_problems if out else ())))
    for p in prep.secret_problems:
        print(f"warning: {p.where}: {p.what}", file=sys.stderr)
    if not out:
        sys.stdout.write(compose.render_yaml(prep.model))
        return
    rel = pipeline.build_release(prep, now=datetime.datetime.now(datetime.timezone.utc), who=who(),
                                 git_commit=git_commit(root_of(c)))
    dest = Path(out)
    release.write_bundle(dest, rel.files())
    print(f"release {rel.id} written to {dest}/ (compose.yaml, .env 0600, manifest.json)", file=sys.stderr)


@task(iterable=["file", "allow_registry"],
      help={"env": "environment name (its files, level, waivers and allow-list)",
            "file": "check these compose files instead of an environment (repeat -f)",
            "level": "with -f: prod, lab, dev or local (default prod)",
            "allow_registry": "with -f: a trusted registry (repeatable)",
            "format": "text, json or sarif", "json": "the same as --format json"})
@user_errors
def check(c, env=None, file=None, level="prod", allow_registry=None, format="text", json=False):
    """Check the merged compose model against the production-hardening policy; exit 1 on a blocking finding."""
    from gantry import policy

    format = "json" if json else format
    if format not in ("text", "json", "sarif"):
        raise UsageError("--format", f"unknown format {yamlio.excerpt(format)}", "use text, json or sarif")
    if level not in LEVELS:
        raise UsageError("--level", f"unknown level {yamlio.excerpt(level)}", f"use one of: {', '.join(LEVELS)}")
    if file and env:
        raise UsageError("--env/-f", "give either --env or -f files, not both", "")
    if file:
        sources = [compose.SourceFile(f, read_user_file(f)) for f in file]
        base = str(Path(file[0]).resolve().parent)
        model = compose.load_compose(sources, os.environ.get, project_dir=base, read_file=pipeline.read_text)
        try:
            raw = compose.load_compose(sources, os.environ.get, project_dir=base, interpolate=False,
                                       read_file=pipeline.read_text).data
        except (GantryError, ProblemList):
            raw = None
        settings = policy.PolicySettings(level=level, allow_registries=tuple(allow_registry or ()))
        report = policy.check_policy(model.data, raw, settings, today=today())
        names = list(file)
    else:
        environment = load_env(c, env)
        prep = pipeline.prepare(environment, raw=True)
        if prep.problems:
            raise ProblemList(list(prep.problems))
        report = pipeline.check(prep, today=today())
        names = list(environment.compose_files)
    if format == "json":
        sys.stdout.write(policy.render_json(report) + "\n")
    elif format == "sarif":
        sys.stdout.write(policy.render_sarif(report, source_files=names) + "\n")
    else:
        sys.stdout.write(policy.render_text(report) + "\n")
    if report.blocking:
        raise fail("", EXIT_INVALID)


# -- remote tasks -----------------------------------------------------------------------------------


def _prepared_release(c, env):
    """Validate and policy-check an environment, then build its release (offline)."""
    environment = load_env(c, env)
    if placeholder_hosts(environment):
        raise ProblemList(placeholder_hosts(environment))
    targets_for(environment)
    prep = pipeline.prepare(environment, raw=True)
    if prep.problems or prep.secret_problems:
        raise ProblemList(list(prep.problems + prep.secret_problems))
    report = pipeline.check(prep, today=today())
    if report.blocking:
        from gantry.policy import render_text

        raise fail(render_text(report) + f"\n\nnot deployed: the {environment.policy.level} policy blocks it "
                   f"(fix the findings or add a waiver in {environment.source})", EXIT_INVALID)
    rel = pipeline.build_release(prep, now=datetime.datetime.now(datetime.timezone.utc), who=who(),
                                 git_commit=git_commit(root_of(c)))
    return environment, prep, rel, report


@task(help={"env": "environment name", "json": "print a JSON document on stdout",
            "per_host": "show every host on its own (default: hosts with the same change are shown once)"})
@user_errors
def plan(c, env=None, json=False, per_host=False):
    """Show what a deploy would change on each host (diff, images, services, secret names); changes nothing.

    Exit 0 when nothing would change, 6 when a deploy would change something.
    """
    from gantry.plan import render_plan

    environment, prep, rel, _ = _prepared_release(c, env)
    result = cli_ops.plan_for(environment, rel)
    if json:
        output.print_json(result.to_dict())
    else:
        fps = rel.manifest.get("secrets", {})
        text = render_plan(result, fingerprints=fps, per_host=per_host)
        print(output.make_redactor(prep.secrets.values.values())(text))
    if result.exit_code:
        raise fail("", result.exit_code)


@task(help={"env": "environment name", "yes": "do not ask for confirmation", "json": "print a JSON result on stdout",
            "quiet": "only the summary", "verbose": "show each remote command (secrets masked)",
            "lock_wait": "wait up to SECONDS for a held lock instead of failing",
            "dry_run": "only show the plan (same as inv plan)"})
@user_errors
def deploy(c, env=None, yes=False, json=False, quiet=False, verbose=False, lock_wait=None, dry_run=False):
    """Validate, check the policy, then deploy the release to every host with health checks and rollback."""
    wait = flag_number("lock-wait", lock_wait, 0.0)
    if dry_run:
        return plan(c, env=env, json=json)
    environment, prep, rel, report = _prepared_release(c, env)
    confirm(environment, yes)
    console = output.Console(quiet=quiet, verbose=verbose)
    redact = output.make_redactor(prep.secrets.values.values())
    hook_env = {"GANTRY_ENV": environment.name, "GANTRY_RELEASE": rel.id, "GANTRY_PROJECT": environment.project}
    run_hooks(environment, "pre_deploy", hook_env, console)
    scan_images(environment, sorted({i for i in rel.manifest.get("images", {}).values() if i}), console)
    console.say(f"deploying {rel.id} to {environment.name} ({len(environment.hosts)} hosts)")
    judge = pipeline.image_judge(prep, report, today=today())
    driver = Driver(run_context(environment, console, redact, judge), action="deploy", lock_wait=wait)
    if driver.ctx.ship_images:  # images.transfer: ssh: every image must be on the deploying side before a lock
        driver.ctx.ship_images.wanted(sorted({i for i in rel.manifest.get("images", {}).values() if i}))
    result = cli_day2.run_notified(lambda: driver.deploy(rel, service_specs(prep.model.data)), environment,
                                   dict(prep.secrets.values), "deploy", rel.id, console, redact)
    hook_env["GANTRY_OUTCOME"] = result.outcome
    run_hooks(environment, "post_deploy" if result.exit_code == 0 else "on_failure", hook_env, console)
    finish_run(result, console, json)


@task(help={"env": "environment name", "to": "a kept release id (default: the one live before the current one)",
            "yes": "do not ask for confirmation", "dry_run": "only show what would change on each host",
            "json": "print a JSON result on stdout", "quiet": "only the summary", "verbose": "show remote commands",
            "lock_wait": "wait up to SECONDS for a held lock"})
@user_errors
def rollback(c, env=None, to=None, yes=False, dry_run=False, json=False, quiet=False, verbose=False, lock_wait=None):
    """Re-activate a kept release on every host (default: the one live before the current one), after checking
    it is complete on every host, with the same health wait."""
    wait = flag_number("lock-wait", lock_wait, 0.0)
    if to is not None and not RELEASE_ID.match(to):
        raise UsageError("--to", f"{yamlio.excerpt(to)} is not a release id", "e.g. 20261125T231722Z-5ee75ef290; "
                         "`inv releases --env E` lists them")
    environment = load_env(c, env)
    console = output.Console(quiet=quiet, verbose=verbose)
    # Secrets are not needed to roll back, but when they are at hand, any that a host echoes are masked.
    secrets, _ = pipeline.read_secrets(environment, os.environ)
    redact = output.make_redactor(secrets.values.values())
    driver = Driver(run_context(environment, console, redact), action="rollback", lock_wait=wait)
    if dry_run:
        print(driver.rollback(to, dry_run=True))
        return
    confirm(environment, yes, "Roll back", "not rolled back")
    console.say(f"rolling back {environment.name} to {to or 'the previous release'}")
    result = cli_day2.run_notified(lambda: driver.rollback(to), environment, dict(secrets.values), "rollback",
                                   to or "previous", console, redact)
    finish_run(result, console, json)


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
