"""`inv validate`, `inv render --out` and `inv compose.config` on compose input: schema errors, env_file, .env."""

from __future__ import annotations

import json
import os
import stat
import subprocess
from pathlib import Path

import pytest

from tests.labtools import copy_project

CANARY_DB = "canary-db-envfile-5d1a7e"
CANARY_API = "canary-api-envfile-90c3b2"
SECRETS = {"DB_PASSWORD": CANARY_DB, "API_TOKEN": CANARY_API}


def _binary() -> bool:
    try:
        return subprocess.run(["docker", "compose", "version"], capture_output=True, timeout=30).returncode == 0
    except OSError:
        return False


needs_binary = pytest.mark.skipif(not _binary(), reason="docker compose v2 not installed")


@pytest.fixture
def project(tmp_path):
    return copy_project(tmp_path)


REPO = Path(__file__).resolve().parent.parent


def inv(cwd: Path, *args: str, env: dict | None = None) -> subprocess.CompletedProcess:
    """`inv` as a user runs it in `cwd`; outside a project, the repository's tasks."""
    base = {k: v for k, v in os.environ.items() if k not in SECRETS and not k.startswith("COMPOSE_")}
    root = [] if (cwd / "tasks.py").is_file() else ["--search-root", str(REPO)]
    proc = subprocess.run(["inv", *root, *args], cwd=cwd, capture_output=True, text=True, env={**base, **(env or {})},
                          timeout=120)
    assert "Traceback" not in proc.stderr, proc.stderr
    return proc


def binary_config(cwd: Path, *args: str, env: dict | None = None) -> subprocess.CompletedProcess:
    base = {"PATH": os.environ["PATH"], "HOME": os.environ.get("HOME", "/root")}
    return subprocess.run(["docker", "compose", *args], cwd=cwd, capture_output=True, text=True,
                          env={**base, **(env or {})}, timeout=120)


def test_validate_reports_the_enviroment_typo_with_file_line_column(project):
    path = project / "compose/docker-compose.prod.yml"
    text = path.read_text()
    assert "\n  web:\n" in text
    path.write_text(text.replace("\n  web:\n", "\n  web:\n    enviroment:\n      DEBUG: '1'\n", 1))
    line = path.read_text().splitlines().index("    enviroment:") + 1
    proc = inv(project, "validate", "--env", "prod", env=SECRETS)
    assert proc.returncode == 1
    assert (f'compose/docker-compose.prod.yml:{line}:5: services.web: unknown key "enviroment" '
            '(did you mean "environment"?)') in proc.stderr


def test_validate_reports_every_schema_problem_at_once(project):
    path = project / "compose/docker-compose.prod.yml"
    path.write_text(path.read_text() + "bogus_top: 1\nvolumes:\n  v: {external: true, driver: local}\n")
    proc = inv(project, "validate", "--env", "prod", env=SECRETS)
    assert proc.returncode == 1
    assert 'unknown key "bogus_top"' in proc.stderr and "2 problems found" not in proc.stderr
    assert "compose/docker-compose.prod.yml:" in proc.stderr


def _with_env_file(project: Path, env_text: str, *, drop_db_from_environment: bool = False) -> None:
    compose = project / "compose/docker-compose.yml"
    text = compose.read_text()
    if drop_db_from_environment:
        text = text.replace("      DB_PASSWORD: ${DB_PASSWORD}\n", "")
    compose.write_text(text.replace("    environment:\n      APP_VERSION", "    env_file:\n      - app.env\n"
                                    "      - {path: missing.env, required: false}\n"
                                    "    environment:\n      APP_VERSION", 1))
    (project / "compose/app.env").write_text(env_text)


@needs_binary
def test_render_bundle_carries_env_file_values_and_keeps_secrets_in_the_env_file(project, tmp_path):
    """The bundle a host receives: compose.yaml without secret values, .env (0600) with them; the binary on the
    host sees every env_file value."""
    _with_env_file(project, f"# settings\nDB_PASSWORD={CANARY_DB}\nLOG_LEVEL=debug\n"
                            "GREETING=\"hi ${APP_VERSION:-x}\"\nLITERAL='a$b'\nURL=postgres://app:${DB_PASSWORD}@db/app\n",
                   drop_db_from_environment=True)
    out = tmp_path / "bundle"
    proc = inv(project, "render", "--env", "prod", "--out", str(out), env={"API_TOKEN": CANARY_API})
    assert proc.returncode == 0, proc.stderr
    compose_yaml = (out / "compose.yaml").read_text()
    assert CANARY_DB not in compose_yaml and CANARY_DB not in proc.stdout + proc.stderr
    assert "DB_PASSWORD: ${DB_PASSWORD}" in compose_yaml and "${DB_PASSWORD}@db/app" in compose_yaml
    assert stat.S_IMODE((out / ".env").stat().st_mode) == 0o600 and CANARY_DB in (out / ".env").read_text()
    proc = binary_config(out, "-f", "compose.yaml", "--env-file", ".env", "config", "--format", "json")
    assert proc.returncode == 0, proc.stderr
    env = json.loads(proc.stdout)["services"]["web"]["environment"]
    assert env["DB_PASSWORD"] == CANARY_DB and env["URL"] == f"postgres://app:{CANARY_DB}@db/app"
    # `config` output escapes $ as $$
    assert env["LOG_LEVEL"] == "debug" and env["GREETING"] == "hi 1" and env["LITERAL"] == "a$$b"


def test_validate_env_file_secret_used_as_a_compose_variable_still_needs_a_value(project):
    _with_env_file(project, f"DB_PASSWORD={CANARY_DB}\n")  # compose also says DB_PASSWORD: ${{DB_PASSWORD}}
    proc = inv(project, "validate", "--env", "prod", env={"API_TOKEN": CANARY_API})
    assert proc.returncode == 1 and CANARY_DB not in proc.stderr + proc.stdout
    assert "DB_PASSWORD" in proc.stderr


@needs_binary
def test_compose_config_reads_extends_files_and_project_settings_from_dotenv(tmp_path):
    (tmp_path / "sub").mkdir()
    (tmp_path / "compose.yaml").write_text("services:\n  web:\n    extends: {file: sub/base.yml, service: b}\n"
                                           "    env_file: app.env\n  dbg:\n    image: x\n    profiles: [debug]\n")
    (tmp_path / "sub/base.yml").write_text("services:\n  b:\n    image: busybox:${TAG}\n")
    (tmp_path / "app.env").write_text('K="v ${TAG}"\nexport E=1\n')
    (tmp_path / "settings.env").write_text("TAG=1.2\nCOMPOSE_PROFILES=debug\nCOMPOSE_PROJECT_NAME=fromenv\n")
    args = ("-f", "compose.yaml", "--env-file", "settings.env")
    ours = inv(tmp_path, "compose.config", *args, "--format", "json")
    theirs = binary_config(tmp_path, *args, "config", "--format", "json")
    assert ours.returncode == theirs.returncode == 0, ours.stderr + theirs.stderr
    assert json.loads(ours.stdout) == json.loads(theirs.stdout)
    assert json.loads(ours.stdout)["name"] == "fromenv" and "dbg" in json.loads(ours.stdout)["services"]
    assert "read_file" not in ours.stderr


def test_compose_config_env_file_syntax_error_names_file_and_line(tmp_path):
    (tmp_path / "compose.yaml").write_text("services:\n  web:\n    image: busybox\n")
    (tmp_path / ".env").write_text("A=1\nB C=2\n")
    proc = inv(tmp_path, "compose.config", "-f", "compose.yaml")
    assert proc.returncode == 1 and ".env:2: key cannot contain a space" in proc.stderr
