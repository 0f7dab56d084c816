"""The tasks that change hosts: plan, deploy, rollback (flags -> stages -> the runner -> output)."""

from __future__ import annotations

import datetime
import os
import re

from invoke import task

from gantry import output, prepare, yamlio
from gantry.cli import day2 as cli_day2
from gantry.cli.base import (
    confirm,
    fail,
    finish_run,
    flag_number,
    git_commit,
    load_env,
    places,
    root_of,
    run_context,
    run_hooks,
    scan_images,
    today,
    user_errors,
    who,
)
from gantry.engines import engine_for
from gantry.engines.bluegreen.policy import as_checked
from gantry.engines.bluegreen.settings import engine_problems
from gantry.errors import EXIT_INVALID, ProblemList, UsageError
from gantry.health import service_specs
from gantry.init import placeholder_hosts
from gantry.run import Runner, images_of

RELEASE_ID = re.compile(r"[0-9]{8}T[0-9]{6}Z-[0-9a-f]{10}\Z")
LEVELS = ("prod", "lab", "dev", "local")

# -- offline tasks ----------------------------------------------------------------------------------



# -- remote tasks -----------------------------------------------------------------------------------


def plan_of(environment, rel, specs, redact, console: output.Console | None = None):
    """Read what is live on every host (nothing changes, no lock) and plan the release against it: the same
    function and the same reads a deploy plans with."""
    console = console or output.Console(quiet=True)
    runner = Runner(run_context(environment, console, redact), engine_for(environment.engine, environment),
                    action="plan")
    try:
        runner.observe_all()
        return runner.plan_deploy(rel, specs)
    finally:
        runner.close()


def _prepared_release(c, env):
    """Validate and policy-check an environment, then build its release (offline)."""
    environment = load_env(c, env)
    if placeholder_hosts(environment):
        raise ProblemList(placeholder_hosts(environment))
    engine_for(environment.engine, environment).check_ready()  # hosts to go to, before the secrets are read
    prep = prepare.prepare(environment, raw=True, cache=True)
    problems = list(prep.problems + prep.secret_problems) + engine_problems(environment, prep.model.data)
    if problems:
        raise ProblemList(problems)
    report = prepare.check(as_checked(prep), today=today())
    if report.blocking:
        from gantry.policy import render_text

        raise fail(render_text(report) + f"\n\nnot deployed: the {environment.policy.level} policy blocks it "
                   f"(fix the findings or add a waiver in {environment.source})", EXIT_INVALID)
    rel = prepare.build_release(prep, now=datetime.datetime.now(datetime.timezone.utc), who=who(),
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
    redact = output.make_redactor(prep.secrets.values.values())
    result = plan_of(environment, rel, service_specs(prep.model.data), redact)
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
    images = images_of(rel)
    scan_images(environment, list(images), console)
    console.say(f"deploying {rel.id} to {environment.name} ({places(environment)})")
    judge = prepare.image_judge(prep, report, today=today())
    driver = Runner(run_context(environment, console, redact, judge, commit=rel.manifest["git_commit"]),
                    engine_for(environment.engine, environment), action="deploy", lock_wait=wait)
    if driver.ctx.ship_images:  # images.transfer: ssh: every image must be on the deploying side before a lock
        driver.ctx.ship_images.wanted(list(images))
    result = cli_day2.run_notified(lambda: driver.deploy(rel, service_specs(prep.model.data)), environment,
                                   dict(prep.secrets.values), "deploy", rel.id, console, redact)
    hook_env["GANTRY_OUTCOME"] = str(result.outcome)
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
    secrets, _ = prepare.read_secrets(environment, os.environ)
    redact = output.make_redactor(secrets.values.values())
    driver = Runner(run_context(environment, console, redact), engine_for(environment.engine, environment),
                    action="rollback", lock_wait=wait)
    if dry_run:
        print(driver.rollback(to, dry_run=True))
        return
    confirm(environment, yes, "Roll back", "not rolled back")
    console.say(f"rolling back {environment.name} to {to or 'the previous release'}")
    result = cli_day2.run_notified(lambda: driver.rollback(to), environment, dict(secrets.values), "rollback",
                                   to or "previous", console, redact)
    finish_run(result, console, json)
