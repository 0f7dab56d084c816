"""Run Gantry's tasks in-process, as `inv` would, and capture what a user sees (exit code, stdout, stderr)."""

from __future__ import annotations

import contextlib
import io
import os
import traceback
from dataclasses import dataclass
from pathlib import Path

import pytest

from gantry.cli import make_collection
from gantry.cli.program import GantryProgram
from tests.labtools import copy_project

CANARY_DB = "canary-db-hostile-5be1c7a0"
CANARY_API = "canary-api-hostile-92d4e6f1"
SECRET_NAMES = ("DB_PASSWORD", "API_TOKEN")


@dataclass(frozen=True)
class Ran:
    code: int
    out: str
    err: str

    @property
    def text(self) -> str:
        return self.out + self.err


def run_task(root: Path, *argv: str, environ: dict[str, str] | None = None) -> Ran:
    """`inv ARGV` in root, in this process; an uncaught exception is reported as a traceback (exit 99)."""
    out, err = io.StringIO(), io.StringIO()
    saved_env, saved_cwd = dict(os.environ), os.getcwd()
    for name in (*SECRET_NAMES, "GANTRY_FINGERPRINT_KEY"):
        os.environ.pop(name, None)
    os.environ.update(environ or {})
    code = 0
    try:
        os.chdir(root)
        with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
            try:
                GantryProgram(namespace=make_collection(root), binary="inv").run(["inv", *argv])
            except SystemExit as exc:
                code = exc.code if isinstance(exc.code, int) else (0 if exc.code is None else 1)
            except Exception:  # noqa: BLE001 - what a user would see as a traceback
                err.write(traceback.format_exc())
                code = 99
    finally:
        os.chdir(saved_cwd)
        os.environ.clear()
        os.environ.update(saved_env)
    return Ran(code, out.getvalue(), err.getvalue())


def snapshot(root: Path) -> dict[str, tuple[int, int]]:
    """Every path under root with its size and mtime (links not followed)."""
    found = {}
    for dirpath, dirnames, filenames in os.walk(root):
        for name in dirnames + filenames:
            path = Path(dirpath) / name
            st = path.lstat()
            found[str(path.relative_to(root))] = (st.st_size, st.st_mtime_ns)
    return found


def write_secrets(root: Path, text: str | None = None) -> Path:
    path = root / "secrets.prod.env"
    path.write_text(text if text is not None else f"DB_PASSWORD={CANARY_DB}\nAPI_TOKEN={CANARY_API}\n")
    path.chmod(0o600)
    return path


@pytest.fixture
def project(tmp_path):
    """A copy of the example project under tmp_path/p, with its prod secrets (the canaries) in place."""
    root = tmp_path / "p"
    root.mkdir()
    copy_project(root)
    write_secrets(root)
    return root
