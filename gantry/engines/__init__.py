"""The engine seam: what the runner (gantry.run) needs from a way of running releases, and nothing more.

An engine is a folder here that implements `Engine` (and the `Session` it opens for each place a release
runs: a host, or a swarm manager). The runner observes every session, takes their locks, asks
`gantry.plan.make_plan` for the Plan with the engine's steps, then executes the steps in order through
`Session.execute`; step kinds are the engine's own words. `engines.hosts` (compose over SSH) is the first.

Adding an engine: a folder `gantry/engines/<name>/` whose `__init__.py` defines `ENGINE`, an object with
the `Engine` methods; `engine: <name>` in environments/<env>.yml selects it (`engine_for`).
"""

from __future__ import annotations

import importlib
import threading
from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Protocol

from gantry.errors import UsageError

if TYPE_CHECKING:  # types only: an engine's modules import this package before health and plan are loaded
    from gantry.health import ServiceSpec, Verdict
    from gantry.plan import HostPlan, LiveRelease, Step
    from gantry.release import Release


@dataclass(frozen=True)
class Work:
    """What a step may need beyond the step itself: the release being deployed (None for a rollback)."""

    release: Release | None = None
    specs: tuple[ServiceSpec, ...] = ()  # the health specs of that release
    images: tuple[str, ...] = ()  # its image references
    failing: str = ""  # the service whose failure started an undo ('' when none is known)


class Facts(Protocol):
    current: str
    releases: tuple[str, ...]
    lock: object | None
    locked_by_us: bool
    containers: tuple


class Session(Protocol):
    """One place a release runs, during one run; every method is one round trip or a wait of them."""

    host: str
    facts: Facts
    preflight: object | None  # the engine's host checks read under the lock (for the policy), if any
    image_facts: dict[str, dict]  # the release images' own config as found there (USER, HEALTHCHECK)
    timings: dict[str, float]
    spans: list[tuple[str, float, float]]

    def connect(self) -> None: ...
    def observe(self) -> Facts: ...
    def live(self) -> LiveRelease: ...
    def lock(self, info_json: str, *, wait: float = 0.0, preflight: bool = True,
             images: Sequence[str] = ()) -> Facts: ...
    def unlock(self) -> None: ...
    def lock_holder(self, now) -> str: ...  # who holds the lock that stopped us, since when, for what
    def read_audit(self) -> tuple[dict, ...]: ...
    def verify(self, rid: str): ...
    def execute(self, step: Step, work: Work) -> Verdict | None: ...
    def slow_stops(self) -> tuple: ...
    def diagnose(self, failed) -> str: ...
    def finish(self, prune: tuple[str, ...], audit_json: str) -> None: ...
    def close(self) -> None: ...


class Engine(Protocol):
    name: str

    def check_ready(self) -> None: ...  # UsageError when the environment names no place to deploy to
    def targets(self) -> list: ...  # SSH targets of the places that keep the lock, releases and audit
    def sessions(self, ctx, cancel: threading.Event) -> list[Session]: ...
    def deploy_steps(self, hp: HostPlan, release: Release, live: LiveRelease) -> tuple[Step, ...]: ...
    def rollback_steps(self, hp: HostPlan, live: LiveRelease) -> tuple[Step, ...]: ...


def engine_for(name: str, env=None) -> Engine:
    """The engine an environment names (`engine:`, default hosts), loaded only when a run needs it."""
    if not name.isidentifier():
        raise UsageError("engine", f"{name!r} is not an engine name", "engine: hosts")
    try:
        module = importlib.import_module(f"gantry.engines.{name}")
    except ModuleNotFoundError:
        raise UsageError("engine", f"there is no engine {name!r}", "engine: hosts") from None
    make = getattr(module, "make_engine", None)
    return make(env) if make is not None else module.ENGINE
