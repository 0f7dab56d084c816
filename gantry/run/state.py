"""The state of one run: each host's outcome (one enum, set in one place), the result, the context."""

from __future__ import annotations

import datetime
import enum
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

from gantry.audit import AuditRecord
from gantry.config import Environment
from gantry.errors import DeployFailed, Interrupted
from gantry.plan import HostPlan, Step

StepReport = Callable[[str, str, str, float, str], None]  # host, step, status(start|ok|fail), secs, detail


class Outcome(str, enum.Enum):
    """Where one host ended (its value is the word in the summary, the JSON and the audit line)."""

    PENDING = "pending"
    DEPLOYED = "deployed"  # runs the plan's target (a rollback's target included)
    UNCHANGED = "unchanged"
    FAILED = "failed"
    ROLLED_BACK = "rolled-back"  # failed or returned with the fleet, and runs what it ran before
    SKIPPED = "skipped"  # a later batch, not started
    INTERRUPTED = "interrupted"  # Ctrl-C before any host changed

    def __str__(self) -> str:
        return self.value


RUNS_TARGET = (Outcome.DEPLOYED, Outcome.UNCHANGED)


class RunOutcome(str, enum.Enum):
    OK = "ok"
    UNCHANGED = "unchanged"
    FAILED = "failed"
    INTERRUPTED = "interrupted"

    def __str__(self) -> str:
        return self.value


@dataclass
class HostRun:
    """One host through a run: its session, its part of the plan, and where it ended."""

    session: object  # gantry.engines.Session
    plan: HostPlan | None = None
    previous: str = ""
    outcome: Outcome = Outcome.PENDING
    error: str = ""
    failing_service: str = ""
    diagnostics: str = ""
    started_step: Step | None = None  # the last step begun: its undo is what returns the host
    slow: tuple = ()  # containers that ignored SIGTERM while this run replaced them
    started: float = field(default_factory=time.monotonic)
    ended: float = 0.0

    @property
    def host(self) -> str:
        return self.session.host

    @property
    def target(self) -> str:
        return self.plan.target if self.plan is not None else ""

    @property
    def running(self) -> str:
        return self.target if self.outcome in RUNS_TARGET else self.previous

    def settle(self, outcome: Outcome, error: str | None = None, *, add: str = "") -> None:
        """The one place an outcome is set (and the host's end time with it)."""
        self.outcome = outcome
        if error is not None:
            self.error = error
        self.error += add
        self.ended = time.monotonic()

    def summary(self) -> dict:
        s = self.session
        return {
            "host": self.host,
            "outcome": self.outcome.value,
            "release": self.running,
            "previous": self.previous,
            "error": self.error,
            "failing_service": self.failing_service,
            "slow_stops": sorted({stop.service for stop in self.slow}),
            "seconds": round((self.ended or time.monotonic()) - self.started, 2),
            "steps": {k: round(v, 3) for k, v in s.timings.items()},
            "timeline": [{"step": name, "start": round(a - self.started, 3), "end": round(b - self.started, 3)}
                         for name, a, b in sorted(s.spans, key=lambda span: span[1])],
        }


@dataclass(frozen=True)
class RunResult:
    action: str
    release: str
    outcome: RunOutcome
    hosts: tuple[dict, ...]
    exit_code: int
    plan: dict | None = None  # the Plan that was executed (None when the run stopped before one was made)

    def to_dict(self) -> dict:
        doc = {"action": self.action, "release": self.release, "outcome": self.outcome.value,
               "exit_code": self.exit_code, "hosts": list(self.hosts)}
        return doc | ({"plan": self.plan} if self.plan is not None else {})


def result_of(action: str, rid: str, runs: Sequence[HostRun], *, interrupted: bool, redact: Callable[[str], str],
              plan: dict | None) -> RunResult:
    outcomes = {r.outcome for r in runs}
    live = {r.target for r in runs}
    if interrupted:
        outcome, code = RunOutcome.INTERRUPTED, Interrupted.exit_code
    elif outcomes <= {Outcome.UNCHANGED} or outcomes <= set(RUNS_TARGET):
        outcome = RunOutcome.UNCHANGED if outcomes <= {Outcome.UNCHANGED} else RunOutcome.OK
        code = 0
        rid = live.pop() if len(live) == 1 else rid  # the hosts keep the release they run (e.g. a repair)
    else:
        outcome, code = RunOutcome.FAILED, DeployFailed.exit_code
    hosts = tuple(r.summary() | {"error": redact(r.error), "diagnostics": redact(r.diagnostics)} for r in runs)
    return RunResult(action, rid, outcome, hosts, code, plan)


@dataclass(frozen=True)
class RunContext:
    env: Environment
    who: str
    origin: str
    git_commit: str
    report: StepReport
    redact: Callable[[str], str]
    echo: Callable[[str, str], None] | None = None
    warn: Callable[[str], None] = lambda text: None
    # Judges the images' own USER/HEALTHCHECK (read on the hosts) with the policy: (errors, warnings).
    judge_images: Callable[[dict], tuple[list[str], list[str]]] | None = None
    now: Callable[[], datetime.datetime] = lambda: datetime.datetime.now(datetime.timezone.utc)
    # images.transfer: ssh: sends the images a host lacks before `up` (gantry.remote.transfer.Shipper).
    ship_images: Callable[[object, Sequence[str]], list[str]] | None = None


def iso(ts: datetime.datetime) -> str:
    return ts.astimezone(datetime.timezone.utc).isoformat(timespec="seconds")


def audit_record(ctx: RunContext, event: str, run: HostRun, rid: str, started: datetime.datetime) -> AuditRecord:
    env = ctx.env
    return AuditRecord(
        event=event, environment=env.name, project=env.project, release=rid, previous=run.previous,
        outcome=run.outcome.value, who=ctx.who, origin=ctx.origin, git_commit=ctx.git_commit,
        started=iso(started), ended=iso(ctx.now()), failing_service=run.failing_service,
        detail=ctx.redact(run.error)[:500])
