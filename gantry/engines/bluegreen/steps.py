"""The steps of a blue/green host: pure, from the host's plan and what it runs (colours included).

deploy:    upload -> up -> wait (the base project, in place) -> proxy (started when missing) -> up-N -> wait-N
           (the new colour N beside the live one L) -> switch-N (the proxy, then `current`) -> drain -> retire-L.
           A failure before the switch never touches the proxy: the new colour is removed and the base project
           returns to the release it ran. After the switch, the undo starts L again (instant while it runs),
           switches back, and removes N.
rollback:  the same switch in reverse; when the other colour still runs the target release (healthy), it is
           only up (base) -> wait -> switch -> drain -> retire: no container starts.
"""

from __future__ import annotations

from dataclasses import dataclass

from gantry.engines.bluegreen.documents import other
from gantry.plan import HostPlan, LiveRelease, Step
from gantry.release import Release


@dataclass(frozen=True)
class BlueGreenLive(LiveRelease):
    """What a host runs, with its colours: the live one and the release the other one runs, if healthy."""

    colour: str = ""  # the colour the proxy points at ('' before the first switch)
    idle_runs: str = ""  # the release the other colour runs, running and healthy ('' when none)


def _restore_base(rid: str) -> tuple[Step, ...]:
    return (Step("up", rid, pinned=True, restoring=True), Step("wait", rid, pinned=True, restoring=True))


def _switch(hp: HostPlan, live: BlueGreenLive, *, pinned: bool, head: tuple[Step, ...] = ()) -> tuple[Step, ...]:
    target, back_to = hp.target, hp.restores
    old, new = live.colour, other(live.colour)
    base_undo = _restore_base(back_to) if back_to else (Step("stop", target, restoring=True, failing_only=True),)
    colour_undo = (Step(f"remove-{new}", target, restoring=True), *base_undo)
    back = ()
    if back_to and old:
        back = (Step(f"up-{old}", back_to, pinned=True, restoring=True),
                Step(f"wait-{old}", back_to, pinned=True, restoring=True),
                Step(f"switch-{old}", back_to, restoring=True), *base_undo,
                Step(f"remove-{new}", target, restoring=True))
    instant = pinned and live.idle_runs == target  # the other colour still runs the target: no container starts
    colour_steps = () if instant else (Step(f"up-{new}", target, pinned=pinned, undo=colour_undo),
                                       Step(f"wait-{new}", target, pinned=pinned, undo=colour_undo))
    steps = head + (Step("up", target, pinned=pinned, undo=base_undo),
                    Step("wait", target, pinned=pinned, undo=base_undo),
                    Step("proxy", target, undo=base_undo),
                    *colour_steps,
                    Step(f"switch-{new}", target, undo=back or colour_undo),
                    Step("drain", target, undo=back or colour_undo))
    if old:
        steps += (Step(f"retire-{old}", back_to or live.id, undo=back or colour_undo),)
    return steps


def deploy_steps(hp: HostPlan, release: Release, live: LiveRelease) -> tuple[Step, ...]:
    if hp.action == "unchanged":
        return ()
    bg = live if isinstance(live, BlueGreenLive) else BlueGreenLive(**vars(live))
    # a repair brings the live release's own content up again: nothing to upload
    head = () if hp.action == "repair" or release.id in live.releases else (Step("upload", release.id),)
    return _switch(hp, bg, pinned=False, head=head)


def rollback_steps(hp: HostPlan, live: LiveRelease) -> tuple[Step, ...]:
    bg = live if isinstance(live, BlueGreenLive) else BlueGreenLive(**vars(live))
    return _switch(hp, bg, pinned=True)
