"""The steps of compose over SSH, for one host: pure, from the host's plan and what it runs.

deploy:    upload -> [ship] -> up -> wait -> switch; a failure from `up` on brings the previous release back
           up with its recorded digests and waits for it; the fleet rule also switches `current` back.
repair:    the live release up again -> wait; a failure stops the failing service (nothing to go back to).
first:     as deploy; a failure stops the failing service of the new release.
rollback:  the target up with its recorded digests -> wait -> switch; undone like a deploy.
"""

from __future__ import annotations

from gantry.plan import HostPlan, LiveRelease, Step
from gantry.release import Release


def restore(rid: str) -> tuple[Step, ...]:
    """Bring a kept release back up, as it ran (recorded digests), and wait until it is healthy."""
    return (Step("up", rid, pinned=True, restoring=True), Step("wait", rid, pinned=True, restoring=True))


def _change(hp: HostPlan, *, pinned: bool, head: tuple[Step, ...] = ()) -> tuple[Step, ...]:
    """up -> wait -> switch of hp.target, each undone by returning to what the host ran."""
    target, back_to = hp.target, hp.restores
    undo = restore(back_to) if back_to else (Step("stop", target, restoring=True, failing_only=True),)
    switch_back = restore(back_to) + (Step("switch", back_to, restoring=True),) if back_to else ()
    return head + (Step("up", target, pinned=pinned, undo=undo), Step("wait", target, pinned=pinned, undo=undo),
                   Step("switch", target, undo=switch_back))


def deploy_steps(hp: HostPlan, release: Release, live: LiveRelease, *, ship: bool = False) -> tuple[Step, ...]:
    if hp.action == "unchanged":
        return ()
    if hp.action == "repair":  # same content, not all healthy: up again, nothing to switch or go back to
        stop = (Step("stop", hp.target, restoring=True, failing_only=True),)
        return (Step("up", hp.target, undo=stop), Step("wait", hp.target, undo=stop))
    head = () if release.id in live.releases else (Step("upload", release.id),)
    if ship:
        head += (Step("ship", release.id),)
    return _change(hp, pinned=False, head=head)


def rollback_steps(hp: HostPlan, live: LiveRelease) -> tuple[Step, ...]:
    return _change(hp, pinned=True)
