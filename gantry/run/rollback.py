"""`inv rollback`: choose the release to go back to, check it on every host, then change the hosts.

Order: observe (and, unless a dry run, lock) every host; pick each host's target (`--to`, or the release
that was live before the current one, from the host's audit trail); hosts that disagree stop the run.
Then verify the target on every host (files present, hashes matching its manifest) before any host
changes. Only then execute the rollback plan (gantry.run); a host that fails goes back to what it ran, and with
`rollout.rollback: fleet` so do the hosts already switched.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from gantry.errors import GantryError, UsageError
from gantry.plan import Plan, make_rollback_plan, render_plan
from gantry.release import rollback_target


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


def verify_targets(runner, steps: dict[str, RollbackStep]) -> None:
    """Check the target release on every host before changing any; raise naming each host and file."""
    checks = runner.fan(runner.runs, lambda run: run.session.verify(steps[run.host].target), reraise=True)
    problems = []
    for run, check in zip(runner.runs, checks):
        if isinstance(check, GantryError):
            problems.append(f"  {run.host}: {check.what}")
            continue
        run.session.checked[steps[run.host].target] = check
        problems += [f"  {run.host}: release {steps[run.host].target}: {p}" for p in check.problems]
    if problems:
        raise GantryError("rollback", "the target release is not complete on every host; nothing was changed:\n"
                          + "\n".join(problems),
                          f"pick another kept release with --to ID (see: inv releases --env {runner.ctx.env.name}), "
                          "or deploy the version again")


def describe(steps: dict[str, RollbackStep]) -> str:
    return "\n".join(f"  {s.host}: {s.current or '(none)'} -> {s.target}"
                     + ("  (already live: re-activated)" if s.current == s.target else "")
                     for s in steps.values())


def _plan(runner, to: str | None) -> Plan:
    """Choose and verify every host's target, then the rollback plan (the engine's steps)."""
    steps = choose_targets(runner.runs, to, runner.ctx.env.name, lambda run: run.session.read_audit())
    verify_targets(runner, steps)
    live = {r.host: r.session.live(()) for r in runner.runs}
    return make_rollback_plan({h: s.target for h, s in steps.items()}, live, [r.host for r in runner.runs],
                              steps=runner.engine.rollback_steps, fleet=runner.ctx.env.rollout.rollback == "fleet")


def dry_run(runner, to: str | None) -> str:
    """What a rollback would change on each host, after the same checks; changes nothing, takes no lock."""
    try:
        runner.observe_all()
        plan = _plan(runner, to)
        steps = {h.host: RollbackStep(h.host, h.current, h.target) for h in plan.hosts}
        return (f"rollback of {runner.ctx.env.name} would change (nothing changed):\n{describe(steps)}\n\n"
                + render_plan(plan))
    finally:
        runner.close()


def run(runner, to: str | None):
    """Lock every host, choose and verify the targets, then execute the rollback plan (fleet rule on failure)."""
    runner.lock_all(to or "previous")
    try:
        runner.plan = _plan(runner, to)
    except BaseException:
        runner.unlock_all()
        runner.close()
        raise
    runner.ctx.warn("rolling back:\n" + describe({h.host: RollbackStep(h.host, h.current, h.target)
                                                  for h in runner.plan.hosts}))
    return runner.execute("rollback", to or "previous")
