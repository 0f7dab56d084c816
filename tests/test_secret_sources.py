"""Secret sources beyond a file: `secrets.command` (stdout is dotenv) and an age-encrypted secrets file."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from tests.labtools import copy_project

REPO = Path(__file__).resolve().parent.parent
DB, API = "canary-db-source-6b2e10", "canary-api-source-c83f47"
DOTENV = f"DB_PASSWORD={DB}\nAPI_TOKEN={API}\n"
needs_age = pytest.mark.skipif(not (shutil.which("age") and shutil.which("age-keygen")),
                               reason="the age CLI is not installed (scripts/setup.sh installs it)")


@pytest.fixture
def project(tmp_path):
    (tmp_path / "p").mkdir()
    return copy_project(tmp_path / "p")


def gantry(root: Path, *args: str, env: dict | None = None) -> subprocess.CompletedProcess:
    base = {k: v for k, v in os.environ.items() if k not in ("DB_PASSWORD", "API_TOKEN", "GANTRY_AGE_IDENTITY")}
    proc = subprocess.run([sys.executable, "-m", "gantry", *args], cwd=root, capture_output=True, text=True,
                          timeout=120, env={**base, "PYTHONPATH": str(REPO), **(env or {})})
    assert "Traceback" not in proc.stderr, proc.stderr
    return proc


def set_sources(root: Path, block: str) -> None:
    prod = root / "environments/prod.yml"
    prod.write_text(prod.read_text() + block)


def files_of(root: Path) -> set[str]:
    """The project's files, but the secret-fingerprint key a render creates once (README, Secrets)."""
    return {str(p.relative_to(root)) for p in root.rglob("*") if p.is_file()
            and not str(p.relative_to(root)).startswith(".gantry/keys/")}


def assert_released_with_values(root: Path, out: Path, proc: subprocess.CompletedProcess) -> None:
    assert proc.returncode == 0, proc.stderr
    env_file = (out / ".env").read_text()
    assert DB in env_file and API in env_file and (out / ".env").stat().st_mode & 0o777 == 0o600
    for name in ("compose.yaml", "manifest.json"):
        assert DB not in (out / name).read_text()
    assert DB not in proc.stdout + proc.stderr and API not in proc.stdout + proc.stderr


def test_secrets_command_stdout_is_the_dotenv(project, tmp_path):
    (project / "vault.sh").write_text(f"#!/bin/sh\necho \"# for $GANTRY_ENV\"\nprintf '{DOTENV}'\n")
    set_sources(project, "secrets:\n  command: sh vault.sh\n")
    assert "prod: valid" in gantry(project, "validate", "--env", "prod").stdout
    before = files_of(project)
    proc = gantry(project, "render", "--env", "prod", "--out", str(tmp_path / "out"))
    assert_released_with_values(project, tmp_path / "out", proc)
    assert files_of(project) == before


def test_secrets_command_failure_shows_exit_code_and_stderr_masked(project):
    (project / "vault.sh").write_text(f"#!/bin/sh\nprintf '{DOTENV}'\necho \"token {API} expired\" >&2\nexit 3\n")
    set_sources(project, "secrets:\n  command: sh vault.sh\n")
    proc = gantry(project, "validate", "--env", "prod")
    assert proc.returncode == 1
    assert "secrets.command: failed with exit code 3" in proc.stderr and "token *** expired" in proc.stderr
    assert API not in proc.stderr + proc.stdout and DB not in proc.stderr + proc.stdout


def test_secrets_command_values_still_lose_to_the_process_environment(project, tmp_path):
    (project / "vault.sh").write_text(f"printf '{DOTENV}'\n")
    set_sources(project, "secrets:\n  command: sh vault.sh\n")
    gantry(project, "render", "--env", "prod", "--out", str(tmp_path / "out"), env={"API_TOKEN": "from-the-job-x"})
    assert 'API_TOKEN="from-the-job-x"' in (tmp_path / "out/.env").read_text()


@pytest.fixture
def age_key(tmp_path):
    key = tmp_path / "keys" / "age.txt"
    key.parent.mkdir()
    subprocess.run(["age-keygen", "-o", str(key)], check=True, capture_output=True)
    key.chmod(0o600)
    recipient = subprocess.run(["age-keygen", "-y", str(key)], check=True, capture_output=True, text=True).stdout
    return key, recipient.strip()


def encrypt(project: Path, recipient: str, text: str = DOTENV) -> None:
    subprocess.run(["age", "-r", recipient, "-o", str(project / "secrets.prod.env.age")], input=text.encode(),
                   check=True)


@needs_age
def test_secrets_age_file_is_decrypted_in_memory_only(project, tmp_path, age_key):
    key, recipient = age_key
    encrypt(project, recipient)
    set_sources(project, f"secrets:\n  age_identity: {key}\n")
    assert DB.encode() not in (project / "secrets.prod.env.age").read_bytes()
    assert "prod: valid" in gantry(project, "validate", "--env", "prod").stdout
    before = files_of(project)
    proc = gantry(project, "render", "--env", "prod", "--out", str(tmp_path / "out"))
    assert_released_with_values(project, tmp_path / "out", proc)
    assert files_of(project) == before and not (project / "secrets.prod.env").exists()


@needs_age
def test_secrets_age_identity_from_the_process_environment(project, age_key):
    key, recipient = age_key
    encrypt(project, recipient)
    assert gantry(project, "validate", "--env", "prod").returncode == 1
    assert "prod: valid" in gantry(project, "validate", "--env", "prod", env={"GANTRY_AGE_IDENTITY": str(key)}).stdout


@needs_age
@pytest.mark.parametrize("case, expect", [
    ("wrong-key", "age --decrypt failed with exit code 1"),
    ("both-files", "both secrets.prod.env and secrets.prod.env.age exist"),
    ("readable-key", "is readable by group or others"),
    ("no-identity", "no age identity to decrypt it with"),
], ids=["wrong-key", "both-files", "readable-key", "no-identity"])
def test_secrets_age_problems_are_reported(project, tmp_path, age_key, case, expect):
    key, recipient = age_key
    encrypt(project, recipient)
    if case == "wrong-key":
        other = tmp_path / "other.txt"
        subprocess.run(["age-keygen", "-o", str(other)], check=True, capture_output=True)
        other.chmod(0o600)
        key = other
    if case == "both-files":
        (project / "secrets.prod.env").write_text(DOTENV)
        (project / "secrets.prod.env").chmod(0o600)
    if case == "readable-key":
        key.chmod(0o640)
    if case != "no-identity":
        set_sources(project, f"secrets:\n  age_identity: {key}\n")
    proc = gantry(project, "validate", "--env", "prod")
    assert proc.returncode == 1 and expect in proc.stderr
    assert DB not in proc.stderr + proc.stdout
