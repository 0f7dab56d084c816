"""Shared plumbing of the Invoke tasks: the project root, error handling, run context and output."""

from __future__ import annotations

import datetime
import functools
import getpass
import os
import socket
import subprocess
import sys
from pathlib import Path

from invoke import Exit

from gantry import config, output
from gantry.errors import EXIT_USAGE, GantryError, ProblemList, UsageError
from gantry.run.state import RunContext


def root_of(c) -> Path:
    """The project root: the directory of the tasks.py that built the collection."""
    return Path(c.config.gantry.root)


def fail(text: str, code: int) -> Exit:
    return Exit(text, code)


def user_errors(fn):
    """Turn user mistakes into a message and an exit code, never a traceback."""

    @functools.wraps(fn)
    def wrapper(c, *args, **kwargs):
        output.JSON_PRINTED.clear()
        try:
            return fn(c, *args, **kwargs)
        except ProblemList as exc:
            _json_failure(fn.__name__, kwargs, exc.problems, exc.exit_code)
            n = len(exc.problems)
            raise fail(f"{exc}\n\n{n} problem{'s' if n != 1 else ''} found.", exc.exit_code) from None
        except GantryError as exc:
            _json_failure(fn.__name__, kwargs, [exc.problem], exc.exit_code)
            raise fail(f"error: {exc}", exc.exit_code) from None
        except KeyboardInterrupt:
            raise fail("interrupted", 130) from None
        except BrokenPipeError:  # the reader went away (`| head`): not an error of ours
            sys.stderr.close()
            raise Exit(code=0) from None

    return wrapper


def _json_failure(task: str, kwargs: dict, problems, code: int) -> None:
    """With --json, a task that stops on an error still prints one JSON document on stdout (a CI job keeps
    it as its result); the same problems go to stderr for people. Problems never hold secret values."""
    if kwargs.get("json") is not True or output.JSON_PRINTED:
        return
    output.print_json({"action": task.rstrip("_"), "outcome": "error", "exit_code": code,
                       "errors": [{"where": p.where, "what": p.what, "hint": p.hint} for p in problems]})


def flag_number(flag: str, value, default: float, *, integer: bool = False, low: float = 0,
                high: float = 86400) -> float:
    """A numeric flag's value, checked here so a typo is a usage error that names the flag (exit 2)."""
    if value is None:
        return default
    try:
        number = int(str(value), 10) if integer else float(str(value))
    except ValueError:
        number = None
    if number is None or number != number or not low <= number <= high:
        kind = "a whole number" if integer else "a number"
        raise UsageError(f"--{flag}", f"expected {kind} from {low:g} to {high:g}, got {str(value)[:40]!r}",
                         f"e.g. --{flag} {int(default) if integer else default:g}")
    return number


def load_env(c, name: str | None) -> config.Environment:
    if not name:
        known = ", ".join(config.list_environments(root_of(c)))
        raise UsageError("--env", "no environment given", f"pass --env NAME; environments: {known}")
    return config.load_environment(root_of(c), name)


def only_host(environment, host: str | None):
    """The environment narrowed to the host named (by label or address) by --host; unchanged without one."""
    from dataclasses import replace

    if not host:
        return environment
    hosts = [h for h in environment.hosts if host in (h.label, h.address)]
    if not hosts:
        raise UsageError(f"--host {host}", "no such host in this environment",
                         f"hosts: {', '.join(h.label for h in environment.hosts)}")
    return replace(environment, hosts=hosts)


def confirm(environment, yes: bool, action: str = "Deploy to", refused: str = "not deployed") -> None:
    """Ask on a terminal when the environment has `confirm: true`; `--yes` or a non-terminal never asks."""
    if not environment.confirm or yes or not sys.stdin.isatty():
        return
    answer = input(f"{action} {environment.name} ({len(environment.hosts)} hosts)? [y/N] ")
    if answer.strip().lower() not in ("y", "yes"):
        raise fail(refused, EXIT_USAGE)


def today() -> datetime.date:
    return datetime.datetime.now(datetime.timezone.utc).date()


def git_commit(root: Path) -> str:
    """The commit the project is at, `-dirty` when tracked files have changes not committed (the release was
    made from a work tree the commit does not describe)."""
    try:
        out = subprocess.run(["git", "-C", str(root), "describe", "--always", "--dirty", "--abbrev=12",
                              "--exclude=*"], capture_output=True, text=True, timeout=5)
    except (OSError, subprocess.SubprocessError):
        return ""
    return out.stdout.strip() if out.returncode == 0 else ""


def who() -> str:
    return os.environ.get("GANTRY_USER") or os.environ.get("GITHUB_ACTOR") or os.environ.get("GITLAB_USER_LOGIN") \
        or getpass.getuser()


def places(environment) -> str:
    """Where an environment deploys, for a person: its hosts, or its swarm's managers."""
    if environment.engine == "swarm":
        return f"a swarm through {len(environment.managers)} manager(s)"
    return f"{len(environment.hosts)} hosts"


def run_context(environment, console: output.Console, redact, judge_images=None,
                commit: str | None = None) -> RunContext:
    """`commit`: the git commit already read for the release (None: read it; `git describe --dirty` walks the
    whole work tree, so a deploy reads it once)."""
    commit = git_commit(Path(environment.root)) if commit is None else commit
    return RunContext(environment, who(), socket.gethostname(), commit, console.step,
                      redact, echo=console.command, warn=lambda text: console.say(text, always=True),
                      judge_images=judge_images, ship_images=_shipper(environment, console))


def _shipper(environment, console: output.Console):
    """images.transfer: ssh -> the hook that sends images a host lacks (None: hosts pull from a registry)."""
    from gantry.engines.hosts.engine import shipper

    return shipper(environment, console.say)


def finish_run(result, console: output.Console, as_json: bool) -> None:
    doc = result.to_dict()
    console.say("")
    console.say(output.run_summary(doc), always=True)
    if console.verbose:
        console.say("\n" + output.timeline(doc))
    if as_json:
        output.print_json(doc)
    if result.exit_code:
        raise Exit(code=result.exit_code)




def run_hooks(environment, which: str, values: dict[str, str], console: output.Console) -> None:
    """Run the environment's local hook commands; a failing pre_deploy hook stops the deploy."""
    for command in getattr(environment.hooks, which):
        console.say(f"hook {which}: {command}")
        proc = subprocess.run(["sh", "-c", command], cwd=environment.root, env={**os.environ, **values},
                              capture_output=True, text=True)
        text = (proc.stdout + proc.stderr).strip()
        if text:
            console.say("\n".join(f"  | {line}" for line in text.splitlines()[-20:]))
        if proc.returncode != 0:
            if which == "pre_deploy":
                raise UsageError(f"{environment.source}: hooks.pre_deploy", f"hook failed with exit code "
                                 f"{proc.returncode}: {command}", "fix the hook or the condition it checks; "
                                 "nothing was deployed")
            console.say(f"warning: hook {which} failed with exit code {proc.returncode}", always=True)


def scan_images(environment, images, console: output.Console) -> None:
    """Scan the release's images with Trivy or Grype when one is installed; say once when none is."""
    import shutil

    from gantry.policy.scan import SCANNERS, at_or_above, parse_report, scan_argv

    settings = environment.policy.scan
    if not settings.enabled or not images:
        return
    scanner = next((s for s in SCANNERS if shutil.which(s)), None)
    if scanner is None:
        console.say("note: no vulnerability scanner (trivy or grype) on this machine: image scan skipped")
        return
    blocking = []
    for image in images:
        proc = subprocess.run(list(scan_argv(scanner, image)), capture_output=True, text=True, timeout=900)
        if proc.returncode != 0:
            console.say(f"warning: {scanner} could not scan {image}: {proc.stderr.strip()[-300:]}", always=True)
            continue
        found = at_or_above(parse_report(scanner, image, proc.stdout), settings.severity)
        blocking += found
        console.say(f"scan {image}: {len(found)} finding(s) at or above {settings.severity}")
    if blocking:
        lines = [f"  {v.severity:<8} {v.id} {v.package} {v.installed} (fixed: {v.fixed or 'no fix'}) in {v.image}"
                 for v in blocking[:30]]
        raise UsageError(f"{environment.source}: policy.scan", f"{len(blocking)} vulnerabilities at or above "
                         f"{settings.severity}:\n" + "\n".join(lines),
                         "update the images, or raise policy.scan.severity with care")
