"""The benchmark's smoke mode on one lab host: it runs, and prints a table with real gantry and ssh numbers."""

from __future__ import annotations

import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from tests.labtools import copy_project, lab_missing

REPO = Path(__file__).resolve().parent.parent
ROW = r"^\| {tool} \| 1 \| {kind} \| (\d+\.\d+) \| (\d+\.\d+)–(\d+\.\d+) \| 1 \| – \| (\d+\.\d+) \|$"

pytestmark = pytest.mark.e2e


@pytest.fixture
def project(tmp_path_factory):
    """A copy of the project, so the benchmark's lab and secrets file are its own.

    A short directory name: the lab's engines put unix sockets under it (108-byte path limit). The bench's
    own compose files (bench/compose/) come along: environments/bench.yml names them.
    """
    root = copy_project(tmp_path_factory.mktemp("bench"))
    shutil.copytree(REPO / "bench" / "compose", root / "bench" / "compose")
    return root


def test_bench_smoke_prints_gantry_and_ssh_rows(project):
    why = lab_missing()
    if why:
        pytest.skip(why)
    proc = subprocess.run([sys.executable, "-m", "bench", "--smoke", "--root", str(project)], cwd=REPO,
                          capture_output=True, text=True, timeout=1200)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    for tool in ("gantry", "ssh loop"):
        for kind in ("changed", "no-change"):
            found = re.search(ROW.format(tool=tool, kind=kind), proc.stdout, re.M)
            assert found, f"no {tool} {kind} row in:\n{proc.stdout}"
            median = float(found.group(1))
            assert 0.05 < median < 120, found.group(0)
    assert not (project / "secrets.bench.env").stat().st_mode & 0o077
    assert "ansible" not in proc.stdout
