"""Ctrl-C (SIGINT) to `inv deploy` at each step: every host stays on a healthy release, locks come back."""

from __future__ import annotations

import signal

import pytest

pytestmark = pytest.mark.e2e

# step -> the progress line (host, step, status) at which SIGINT is sent; with --verbose a step's start
# line is printed as it starts. The pull runs at the start of `up` when the release's image is new.
STEPS = [
    ("connect", lambda h, s, st: s == "connect" and st == "..."),
    ("lock", lambda h, s, st: s == "lock" and st == "..."),
    ("upload", lambda h, s, st: (h, s, st) == ("lab-1", "upload", "...")),
    ("pull", lambda h, s, st: (h, s, st) == ("lab-1", "up", "...")),
    ("up", lambda h, s, st: (h, s, st) == ("lab-2", "up", "...")),
    ("health", lambda h, s, st: (h, s, st) == ("lab-2", "health", "...")),
    ("switch", lambda h, s, st: (h, s, st) == ("lab-2", "switch", "...")),
    ("prune", lambda h, s, st: (h, s, st) == ("lab-3", "finish", "...")),
]


@pytest.mark.parametrize("step,when", STEPS, ids=[s for s, _ in STEPS])
def test_fault_08_sigint_at_each_step(fl, step, when):
    kept = fl.kept()
    before = fl.converged()
    if step == "pull":
        fl.push_tag("pull8")  # a new image: every host has to pull it
    run = fl.deploy_signalled(f"8-{step}", when, signal.SIGINT, env={"WEB_TAG": "pull8"} if step == "pull" else {})
    # The last step (finish: prune, audit, unlock) holds a Ctrl-C until it is done: every host has reached its
    # final release by then, so the deploy ends as it would have (exit 0) and says the interrupt came late.
    assert run.code == (130 if step != "prune" else 0), run.stderr
    if step == "prune":
        assert "Ctrl-C arrived after every host had reached its final release" in run.stderr, run.stderr
    release = fl.converged(history=kept if step != "prune" else None)
    # stopped before any host changed: the JSON document is an error document without a release
    rid = (run.doc or {}).get("release", "")
    if step in ("connect", "lock") and run.doc:
        assert run.doc["outcome"] == "error" and run.doc["exit_code"] == 130, run.doc
    # In the last step every host is already switched: the fleet stays on the new release, on one version.
    assert release == before or (step == "prune" and release[-10:] == rid[-10:]), (release, before, rid)
    audited = [s for s in fl.hosts() if rid and any(r["release"] == rid for r in s.audit)]
    if step not in ("connect", "lock"):  # from the first change on, each host's audit says what happened
        assert len(audited) == 3, [s.name for s in audited]
        for s in audited:
            line = [r for r in s.audit if r["release"] == rid][-1]
            assert line["outcome"] in ("rolled-back", "skipped", "deployed"), line
    fl.record(f"8-{step}", "SIGINT to inv deploy", run.code, release=rid, after=run.fired,
              note=f"fleet on one release ({fl.label(release)})")


def test_fault_08_next_deploy_works(fl):
    _, doc = fl.deploy("8-next")
    fl.converged(doc["release"])
    fl.record("8-next", "none (the deploy after the interrupts)", 0, release=doc["release"], note="ok")
