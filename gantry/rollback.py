"""`inv rollback`: choose the release to go back to, check it on every host, then change the hosts.

Order: observe (and, unless a dry run, lock) every host; pick each host's target (`--to`, or the release
that was live before the current one, from the host's audit trail); hosts that disagree stop the run.
Then verify the target on every host (files present, hashes matching its manifest) before any host
changes. Only then re-activate it everywhere; a host that fails goes back to what it ran, and with
`rollout.rollback: fleet` so do the hosts already switched.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass

from gantry.errors import GantryError, UsageError
from gantry.health import Failed
from gantry.release import rollback_target
from gantry.remote.executor import close_all


@dataclass(frozen=True)
class RollbackStep:
    host: str
    current: str
    target: str


def choose_targets(runs, to: str | None, env_name: str, audit_of: Callable) -> dict[str, RollbackStep]:
    """Each host's target; an unknown target, or hosts that disagree without `--to`, stop the run."""
    steps: dict[str, RollbackStep] = {}
    for run in runs:
        facts = run.session.facts
        target = to or rollback_target(audit_of(run), facts.releases, facts.current)
        if not target or target not in facts.releases:
            kept = ", ".join(facts.releases) or "none"
            what = (f"release {to} is not kept on this host (pruned or never deployed)" if to
                    else "there is no earlier release to go back to")
            raise UsageError(run.host, what, f"kept releases: {kept}; see: inv releases --env {env_name}")
        steps[run.host] = RollbackStep(run.host, facts.current, target)
    targets = {s.target for s in steps.values()}
    if len(targets) > 1:
        lines = "\n".join(f"  {s.host}: runs {s.current or '(none)'}, before it ran {s.target}"
                          for s in steps.values())
        raise UsageError("rollback", f"the hosts disagree on their previous release; nothing was changed:\n{lines}",
                         f"pick one with --to ID (see: inv releases --env {env_name})")
    return steps


def verify_targets(driver, steps: dict[str, RollbackStep]) -> None:
    """Check the target release on every host before changing any; raise naming each host and file."""
    checks = driver._fan(driver.runs, lambda run: run.session.verify(steps[run.host].target), reraise=True)
    problems = []
    for run, check in zip(driver.runs, checks):
        if isinstance(check, GantryError):
            problems.append(f"  {run.host}: {check.what}")
            continue
        run.session.checked[steps[run.host].target] = check
        problems += [f"  {run.host}: release {steps[run.host].target}: {p}" for p in check.problems]
    if problems:
        raise GantryError("rollback", "the target release is not complete on every host; nothing was changed:\n"
                          + "\n".join(problems),
                          f"pick another kept release with --to ID (see: inv releases --env {driver.ctx.env.name}), "
                          "or deploy the version again")


def describe(steps: dict[str, RollbackStep]) -> str:
    return "\n".join(f"  {s.host}: {s.current or '(none)'} -> {s.target}"
                     + ("  (already live: re-activated)" if s.current == s.target else "")
                     for s in steps.values())


def dry_run(driver, to: str | None) -> str:
    """What a rollback would change on each host, after the same checks; changes nothing, takes no lock."""
    try:
        driver._stop_on(driver._on_every_host(lambda run: (run.session.connect(), run.session.observe())))
        steps = choose_targets(driver.runs, to, driver.ctx.env.name, lambda run: run.session.read_audit())
        verify_targets(driver, steps)
        return f"rollback of {driver.ctx.env.name} would change (nothing changed):\n{describe(steps)}"
    finally:
        close_all(r.session.conn for r in driver.runs)


def run(driver, to: str | None):
    """Lock every host, choose and verify the targets, then re-activate them (fleet rule on failure)."""
    driver.lock_all(to or "previous")
    try:
        steps = choose_targets(driver.runs, to, driver.ctx.env.name, lambda r: r.session.read_audit())
        verify_targets(driver, steps)
        driver.ctx.warn(f"rolling back:\n{describe(steps)}")

        def back(run) -> None:
            s = run.session
            run.target = steps[run.host].target
            run.touched = True
            verdict = driver._activate(run, run.target)
            if isinstance(verdict, Failed):
                run.outcome, run.error, run.failing_service = "failed", verdict.reason, verdict.service
                run.diagnostics = s.diagnose(verdict)
                driver._recover(run)
                return
            s.switch(run.target)
            run.outcome, run.ended = "deployed", time.monotonic()

        try:
            for r, res in zip(driver.runs, driver._fan(driver.runs, back)):
                if isinstance(res, GantryError):
                    r.outcome, r.error = "failed", res.what
                    driver._recover(r)
        except KeyboardInterrupt:
            driver.cancel.set()
        if any(r.outcome != "deployed" for r in driver.runs) and driver.ctx.env.rollout.rollback == "fleet":
            driver._fleet_rollback()
        label = to or "previous"

        def finish(r) -> None:
            r.session.finish(None, (), driver._record("rollback", r, r.target or label).to_json())
            driver.locked.remove(r)

        driver._fan(driver.locked[:], finish, reraise=False)
        driver.warn_slow_stops()
    finally:
        driver.unlock_all()
        close_all(r.session.conn for r in driver.runs)
    live = {s.target for s in steps.values()}
    return driver._result(live.pop() if len(live) == 1 else label)
