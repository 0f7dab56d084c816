"""Shared lab fixture plumbing for end-to-end tests: bring the lab up once per module, always tear down."""

from __future__ import annotations

import os
import shutil
import subprocess
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parent.parent
PROJECT_FILES = ("tasks.py", "secrets.example.env")
PROJECT_DIRS = ("environments", "compose", "example")


def copy_project(root: Path) -> Path:
    """A user's project: the repo's tasks.py, environments, compose files and example app, nothing else.

    The lab environments name slot 0's registry; a test worker's lab runs on its own slot, so the copy's
    environment files are pointed at that slot's addresses."""
    for name in PROJECT_FILES:
        shutil.copy(REPO / name, root / name)
    for name in PROJECT_DIRS:
        shutil.copytree(REPO / name, root / name)
    for env_file in (root / "environments").glob("*.yml"):
        env_file.write_text(for_this_slot(env_file.read_text()))
    return root


def lab_net():
    from gantry.lab.model import requested_net

    return requested_net()


def for_this_slot(text: str) -> str:
    """Text that names slot 0's lab addresses (10.231.47.x), rewritten for this worker's slot."""
    return text.replace("10.231.47.", lab_net().prefix)


def lab_missing() -> str:
    """Why a lab cannot run here ('' when it can)."""
    if os.geteuid() != 0:
        return "the lab needs root"
    for tool in ("dockerd", "sshd", "ip", "nsenter", "unshare", "docker-registry"):
        if not (shutil.which(tool) or os.path.exists(f"/usr/sbin/{tool}") or os.path.exists(f"/usr/bin/{tool}")):
            return f"{tool} is not installed (run scripts/setup.sh)"
    if subprocess.run(["docker", "compose", "version"], capture_output=True).returncode != 0:
        return "docker compose v2 is not installed (run scripts/setup.sh)"
    return ""


def lab_or_skip(root, count: int):
    why = lab_missing()
    if why:
        pytest.skip(why)
    from gantry import lab

    try:
        up = lab.lab_up(root, count, log=lambda m: None)
    except BaseException:
        lab.lab_down(root, log=lambda m: None)  # a half-made lab must not block the next module
        raise
    try:
        yield up
    finally:
        lab.lab_down(root, log=lambda m: None)


def project_with_lab_secrets(root: Path, values: dict[str, str]) -> Path:
    """A copy of the project whose secrets.lab.env (0600) holds these values."""
    copy_project(root)
    secrets = root / "secrets.lab.env"
    secrets.write_text("".join(f"{k}={v}\n" for k, v in values.items()))
    secrets.chmod(0o600)
    return root


# The fault suite (tests/faults) hands its table rows to the controller through files in this directory:
# with pytest-xdist each worker writes rows, and only the controller prints the terminal summary.
FAULT_ROWS_VARIABLE = "GANTRY_FAULT_ROWS"
FAULT_COLUMNS = ("scenario", "fault", "exit", "after", "hosts", "lock", "audit", "note")


def fault_table(rows_dir: Path) -> str:
    """The fault suite's rows as a text table, in scenario order ('' when no scenario ran)."""
    import itertools
    import json

    rows = [json.loads(p.read_text()) for p in sorted(rows_dir.glob("*.json"), key=lambda p: p.stat().st_mtime_ns)]
    if not rows:
        return ""

    def order(row: dict) -> int:
        digits = "".join(itertools.takewhile(str.isdigit, row["scenario"]))
        return int(digits) if digits else 99

    table = [[str(r.get(c, "")) for c in FAULT_COLUMNS] for r in sorted(rows, key=order)]  # stable: run order
    widths = [max(len(c), *(len(r[i]) for r in table)) for i, c in enumerate(FAULT_COLUMNS)]
    lines = ["  ".join(c.ljust(w) for c, w in zip(FAULT_COLUMNS, widths)),
             "  ".join("-" * w for w in widths)]
    lines += ["  ".join(v.ljust(w) for v, w in zip(r, widths)).rstrip() for r in table]
    return "\n".join(lines)


def run_checked(root: Path, canaries: tuple[str, ...], *args: str, code: int | None = None
                ) -> subprocess.CompletedProcess:
    """run_gantry, asserting that no canary secret value is in its output (and its exit code, when given)."""
    proc = run_gantry(root, *args)
    out = proc.stdout + proc.stderr
    assert not [c for c in canaries if c in out], "a secret value was printed"
    if code is not None:
        assert proc.returncode == code, f"exit {proc.returncode}\n{proc.stdout}\n{proc.stderr}"
    return proc


def run_gantry(root: Path, *args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess:
    """`python -m gantry ARGS` in a project as a user runs it (this checkout's code), never a traceback."""
    import sys

    proc = subprocess.run([sys.executable, "-m", "gantry", *args], cwd=root, capture_output=True, text=True,
                          env={**os.environ, "PYTHONPATH": str(REPO), "NO_COLOR": "1", **(env or {})}, timeout=600)
    assert "Traceback" not in proc.stderr, proc.stderr
    return proc
