"""Offline tasks: envs, validate, render, check. Nothing here connects to a host."""

from __future__ import annotations

import datetime
import os
import re
import sys
from pathlib import Path

from invoke import task

from gantry import compose, config, prepare, release, yamlio
from gantry.cli.base import (
    fail,
    git_commit,
    load_env,
    places,
    root_of,
    today,
    user_errors,
    who,
)
from gantry.cli.compose_config import read_user_file
from gantry.engines.bluegreen.policy import as_checked
from gantry.engines.bluegreen.settings import engine_problems
from gantry.errors import EXIT_INVALID, GantryError, ProblemList, UsageError
from gantry.init import placeholder_hosts
from gantry.notify import notify_problems

RELEASE_ID = re.compile(r"[0-9]{8}T[0-9]{6}Z-[0-9a-f]{10}\Z")
LEVELS = ("prod", "lab", "dev", "local")

# -- offline tasks ----------------------------------------------------------------------------------



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
    prep = prepare.prepare(environment, raw=True, cache=True)
    report = prepare.check(as_checked(prep), today=today())
    problems = [str(p) for p in placeholder_hosts(environment)]
    problems += [str(p) for p in prep.problems + prep.secret_problems]
    problems += [str(p) for p in notify_problems(environment, prep.secrets.declared)]
    problems += [str(p) for p in engine_problems(environment, prep.model.data)]
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
          f"{places(environment)}, {len(prep.secrets.names)} secrets)")


@task(help={"env": "environment name", "out": "write the release bundle (compose.yaml, .env, manifest.json) here"})
@user_errors
def render(c, env=None, out=None):
    """Print the merged, interpolated compose file that would be deployed (secrets stay ${NAME})."""
    if out is not None:
        release.check_bundle_dir(Path(out))  # before anything is computed or written
    environment = load_env(c, env)
    prep = prepare.prepare(environment, cache=True)
    if prep.problems or (out and prep.secret_problems):
        raise ProblemList(list(prep.problems + (prep.secret_problems if out else ())))
    for p in prep.secret_problems:
        print(f"warning: {p.where}: {p.what}", file=sys.stderr)
    if not out:
        sys.stdout.write(compose.render_yaml(prep.model))
        return
    rel = prepare.build_release(prep, now=datetime.datetime.now(datetime.timezone.utc), who=who(),
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
        model = compose.load_compose(sources, os.environ.get, project_dir=base, read_file=prepare.read_text)
        try:
            raw = compose.load_compose(sources, os.environ.get, project_dir=base, interpolate=False,
                                       read_file=prepare.read_text).data
        except (GantryError, ProblemList):
            raw = None
        settings = policy.PolicySettings(level=level, allow_registries=tuple(allow_registry or ()))
        report = policy.check_policy(model.data, raw, settings, today=today())
        names = list(file)
    else:
        environment = load_env(c, env)
        prep = prepare.prepare(environment, raw=True, cache=True)
        if prep.problems:
            raise ProblemList(list(prep.problems))
        report = prepare.check(as_checked(prep), today=today())
        names = list(environment.compose_files)
    if format == "json":
        sys.stdout.write(policy.render_json(report) + "\n")
    elif format == "sarif":
        sys.stdout.write(policy.render_sarif(report, source_files=names) + "\n")
    else:
        sys.stdout.write(policy.render_text(report) + "\n")
    if report.blocking:
        raise fail("", EXIT_INVALID)
