"""The offline tasks as a user runs them: `inv validate`, `inv render`, `inv envs`, errors and exit codes."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
from pathlib import Path

import pytest

from tests.labtools import copy_project

REPO = Path(__file__).resolve().parent.parent
CANARY_DB = "canary-db-offline-31f0c9"
CANARY_API = "canary-api-offline-8e22d1"
SECRETS = {"DB_PASSWORD": CANARY_DB, "API_TOKEN": CANARY_API}


@pytest.fixture
def project(tmp_path):
    return copy_project(tmp_path)


def inv(project, *args, env=None):
    base = {k: v for k, v in os.environ.items() if k not in SECRETS}
    proc = subprocess.run(["inv", *args], cwd=project, capture_output=True, text=True, env={**base, **(env or {})},
                          timeout=120)
    assert "Traceback" not in proc.stderr, proc.stderr
    return proc


def test_cli_validate_lists_missing_secrets_then_passes_with_the_environment(project):
    proc = inv(project, "validate", "--env", "prod")
    assert proc.returncode == 1
    assert "DB_PASSWORD: secret has no value" in proc.stderr and "API_TOKEN: secret has no value" in proc.stderr
    assert "prod: 2 problems found." in proc.stderr
    ok = inv(project, "validate", "--env", "prod", env=SECRETS)
    assert ok.returncode == 0 and "prod: valid" in ok.stdout


def test_cli_validate_passes_with_a_private_secrets_file_and_refuses_a_readable_one(project):
    path = project / "secrets.prod.env"
    path.write_text(f"DB_PASSWORD={CANARY_DB}\nAPI_TOKEN={CANARY_API}\n")
    path.chmod(0o644)
    bad = inv(project, "validate", "--env", "prod")
    assert bad.returncode == 1 and "chmod 600 secrets.prod.env" in bad.stderr
    path.chmod(0o600)
    assert inv(project, "validate", "--env", "prod").returncode == 0


def test_cli_validate_reports_placeholder_values(project):
    proc = inv(project, "validate", "--env", "prod", env={"DB_PASSWORD": "change-me", "API_TOKEN": CANARY_API})
    assert proc.returncode == 1 and "DB_PASSWORD: secret still has the placeholder value" in proc.stderr


def test_cli_validate_names_a_compose_variable_with_no_value(project):
    compose = project / "compose/docker-compose.prod.yml"
    compose.write_text(compose.read_text().replace("APP_ENV: production", "APP_ENV: ${DEPLOY_FLAVOUR}"))
    proc = inv(project, "validate", "--env", "prod", env=SECRETS)
    assert proc.returncode == 1
    assert "compose/docker-compose.prod.yml" in proc.stderr and "DEPLOY_FLAVOUR" in proc.stderr


def test_cli_validate_reports_required_variable_message(project):
    compose = project / "compose/docker-compose.prod.yml"
    compose.write_text(compose.read_text().replace("APP_ENV: production", "APP_ENV: ${FLAVOUR:?pick a flavour}"))
    proc = inv(project, "validate", "--env", "prod", env=SECRETS)
    assert proc.returncode == 1 and "pick a flavour" in proc.stderr


def test_cli_render_keeps_secrets_out_and_is_byte_identical(project, tmp_path):
    first = inv(project, "render", "--env", "prod", env=SECRETS)
    second = inv(project, "render", "--env", "prod", env=SECRETS)
    assert first.returncode == 0 and first.stdout == second.stdout
    assert "DB_PASSWORD: ${DB_PASSWORD}" in first.stdout
    out_a, out_b = tmp_path / "a", tmp_path / "b"
    inv(project, "render", "--env", "prod", "--out", str(out_a), env=SECRETS)
    inv(project, "render", "--env", "prod", "--out", str(out_b), env=SECRETS)
    assert (out_a / "compose.yaml").read_bytes() == (out_b / "compose.yaml").read_bytes()
    assert (out_a / ".env").stat().st_mode & 0o777 == 0o600
    manifest = json.loads((out_a / "manifest.json").read_text())
    assert manifest["content_hash"] == json.loads((out_b / "manifest.json").read_text())["content_hash"]
    assert manifest["release"].endswith(manifest["content_hash"])
    assert {s["path"] for s in manifest["sources"]} == {"compose/docker-compose.yml", "compose/docker-compose.prod.yml"}
    assert manifest["images"]["web"] == "registry.example.com/gantry-example/web:1.0.0"
    assert CANARY_DB in (out_a / ".env").read_text()
    for name in ("compose.yaml", "manifest.json"):
        assert CANARY_DB not in (out_a / name).read_text() and CANARY_API not in (out_a / name).read_text()


def test_cli_render_output_loads_again_in_docker_compose(project, tmp_path):
    if subprocess.run(["docker", "compose", "version"], capture_output=True).returncode != 0:
        pytest.skip("docker compose v2 not installed")
    out = tmp_path / "bundle"
    inv(project, "render", "--env", "prod", "--out", str(out), env=SECRETS)
    argv = ["docker", "compose", "-f", "compose.yaml", "--env-file", ".env", "config", "--format", "json"]
    proc = subprocess.run(argv, cwd=out, capture_output=True, text=True, env={"PATH": os.environ["PATH"]})
    assert proc.returncode == 0, proc.stderr
    assert json.loads(proc.stdout)["services"]["web"]["environment"]["DB_PASSWORD"] == CANARY_DB


@pytest.mark.parametrize("env", ["local", "lab", "staging", "prod"])
def test_cli_validate_and_render_every_repo_environment(project, env):
    assert inv(project, "render", "--env", env, env=SECRETS).returncode == 0
    proc = inv(project, "validate", "--env", env, env=SECRETS)
    assert proc.returncode == 0, proc.stderr


def test_cli_unknown_environment_is_a_usage_error(project):
    proc = inv(project, "validate", "--env", "prd")
    assert proc.returncode == 2 and "did you mean 'prod'" in proc.stderr and "staging" in proc.stderr


def test_cli_bad_env_key_and_bad_yaml(project):
    path = project / "environments/prod.yml"
    path.write_text(path.read_text().replace("keep_releases: 10", "keep_relases: 10"))
    proc = inv(project, "validate", "--env", "prod")
    assert proc.returncode == 1 and "keep_relases: unknown key" in proc.stderr
    assert "did you mean 'keep_releases'" in proc.stderr
    path.write_text("project: [unclosed\n")
    proc = inv(project, "validate", "--env", "prod")
    assert proc.returncode == 1 and "environments/prod.yml:2:1" in proc.stderr


def test_cli_bad_compose_yaml_shows_file_line_column(project):
    (project / "compose/docker-compose.prod.yml").write_text("services:\n  web:\n    image: [x\n")
    proc = inv(project, "validate", "--env", "prod", env=SECRETS)
    assert proc.returncode == 1 and "compose/docker-compose.prod.yml:" in proc.stderr


def test_cli_envs_lists_every_environment(project):
    proc = inv(project, "envs")
    assert proc.returncode == 0
    for name in ("local", "lab", "staging", "prod"):
        assert f"{name}\n" in proc.stdout
    assert "app-1.prod.example.com" in proc.stdout


def test_cli_no_secret_in_any_offline_output(project, tmp_path):
    outputs = []
    for args in (("validate", "--env", "prod"), ("render", "--env", "prod"), ("check", "--env", "prod"),
                 ("check", "--env", "prod", "--format", "json"), ("envs",)):
        proc = inv(project, *args, env=SECRETS)
        outputs.append(proc.stdout + proc.stderr)
    broken = project / "compose/docker-compose.prod.yml"
    broken.write_text(broken.read_text().replace("APP_ENV: production", "APP_ENV: ${NOPE:?missing NOPE}"))
    proc = inv(project, "validate", "--env", "prod", env=SECRETS)
    outputs.append(proc.stdout + proc.stderr)
    text = "\n".join(outputs)
    assert CANARY_DB not in text and CANARY_API not in text


def test_cli_failing_pre_deploy_hook_stops_before_any_connection(project):
    env = project / "environments/prod.yml"
    env.write_text(env.read_text() + "hooks:\n  pre_deploy:\n    - echo checking $GANTRY_ENV $GANTRY_RELEASE; exit 3\n")
    proc = inv(project, "deploy", "--env", "prod", "--yes", env=SECRETS)
    # exit 2 (the hook said no), not 4: the prod hosts (which do not exist) were never contacted
    assert proc.returncode == 2, proc.stderr
    assert "hooks.pre_deploy" in proc.stderr and "nothing was deployed" in proc.stderr
    assert "checking prod 2" in proc.stderr  # the hook saw its environment and the release id
    assert "connect" not in proc.stderr


def test_cli_prod_deploy_asks_on_a_terminal_and_never_in_a_pipe(project):
    if not shutil.which("script"):
        pytest.skip("util-linux script is not installed")
    base = {k: v for k, v in os.environ.items() if k not in SECRETS}
    # On a pseudo-terminal: asks, and "n" deploys nothing (the prod hosts are never contacted).
    proc = subprocess.run(["script", "-qec", "inv deploy --env prod", "/dev/null"], cwd=project, input="n\n",
                          capture_output=True, text=True, env={**base, **SECRETS}, timeout=120)
    assert "Deploy to prod (4 hosts)? [y/N]" in proc.stdout and "not deployed" in proc.stdout
    assert proc.returncode == 2
    # Through a pipe: never asks and goes straight on; the hosts here are a closed port on loopback, so it
    # stops at connect (exit 4) without any traffic leaving this machine.
    env_file = project / "environments/prod.yml"
    text = env_file.read_text()
    for i in range(1, 5):
        text = text.replace(f"address: app-{i}.prod.example.com", f"address: 127.0.0.{i}, port: 1")
    env_file.write_text(text.replace("health:", "ssh: {connect_retries: 1}\nhealth:", 1))
    piped = inv(project, "deploy", "--env", "prod", env=SECRETS)
    assert "[y/N]" not in piped.stdout + piped.stderr and piped.returncode == 4, piped.stderr
    assert "cannot reach 127.0.0.1:1" in piped.stderr


@pytest.mark.parametrize("task, question, refused", [
    ("rollback", "Roll back prod (4 hosts)? [y/N]", "not rolled back"),
    ("lock.release", "Free the deploy lock of prod (4 hosts)? [y/N]", "lock not released"),
], ids=["rollback", "lock-release"])
def test_cli_confirm_on_a_terminal_and_yes_in_scripts(project, task, question, refused):
    if not shutil.which("script"):
        pytest.skip("util-linux script is not installed")
    base = {k: v for k, v in os.environ.items() if k not in SECRETS}
    proc = subprocess.run(["script", "-qec", f"inv {task} --env prod", "/dev/null"], cwd=project, input="n\n",
                          capture_output=True, text=True, env={**base, **SECRETS}, timeout=120)
    assert question in proc.stdout and refused in proc.stdout and proc.returncode == 2, proc.stdout
    # --yes is accepted (a CI script passes it everywhere) and asks nothing, even on a terminal; the prod
    # hosts do not resolve, so it stops at connect (exit 4) without reaching anything.
    env_file = project / "environments/prod.yml"
    text = env_file.read_text()
    for i in range(1, 5):
        text = text.replace(f"address: app-{i}.prod.example.com", f"address: 127.0.0.{i}, port: 1")
    env_file.write_text(text.replace("health:", "ssh: {connect_retries: 1}\nhealth:", 1))
    yes = subprocess.run(["script", "-qec", f"inv {task} --env prod --yes", "/dev/null"], cwd=project,
                         capture_output=True, text=True, env={**base, **SECRETS}, timeout=120)
    assert "[y/N]" not in yes.stdout and "No idea what" not in yes.stdout and yes.returncode == 4, yes.stdout


def _compose_binary() -> bool:
    try:
        return subprocess.run(["docker", "compose", "version"], capture_output=True).returncode == 0
    except OSError:
        return False


@pytest.mark.compose
@pytest.mark.skipif(not _compose_binary(), reason="docker compose v2 not installed")
def test_cli_compose_config_matches_the_binary_and_its_exit_status(project, tmp_path):
    files = ["-f", "compose/docker-compose.yml", "-f", "compose/docker-compose.prod.yml"]
    env = {"PATH": os.environ["PATH"], "HOME": os.environ.get("HOME", "/root"), **SECRETS,
           **{k: v for k, v in os.environ.items() if k == "PYTHONPATH"}}  # the gantry under test
    ours = subprocess.run(["inv", "compose.config", *files, "--format", "json"], cwd=project, capture_output=True,
                          text=True, env=env, timeout=120)
    theirs = subprocess.run(["docker", "compose", *files, "config", "--format", "json"], cwd=project,
                            capture_output=True, text=True, env=env, timeout=120)
    assert ours.returncode == theirs.returncode == 0, ours.stderr + theirs.stderr
    assert json.loads(ours.stdout) == json.loads(theirs.stdout)
    bad = tmp_path / "bad.yml"
    bad.write_text("services:\n  a:\n    image: ${TAG:?set TAG}\n")
    ours = subprocess.run(["inv", "compose.config", "-f", str(bad)], capture_output=True, text=True, env=env)
    theirs = subprocess.run(["docker", "compose", "-f", str(bad), "config"], capture_output=True, text=True, env=env)
    assert ours.returncode != 0 and theirs.returncode != 0
    assert "set TAG" in ours.stderr and "Traceback" not in ours.stderr


def test_cli_image_judge_reports_only_what_the_image_adds(project):
    import datetime

    from gantry import config, prepare

    (project / "compose/docker-compose.rootworker.yml").write_text("services:\n  worker:\n    user: !reset null\n")
    env_file = project / "environments/prod.yml"
    env_file.write_text(env_file.read_text().replace(
        "  - compose/docker-compose.prod.yml\n", "  - compose/docker-compose.prod.yml\n"
        "  - compose/docker-compose.rootworker.yml\n"))
    env = config.load_environment(project, "prod")
    prep = prepare.prepare(env, SECRETS, raw=True)
    today = datetime.date(2026, 11, 25)
    report = prepare.check(prep, today=today)
    assert not any(f.rule == "USER-ROOT" for f in report.findings)  # compose alone cannot tell
    worker = prep.model.data["services"]["worker"]["image"]
    web = prep.model.data["services"]["web"]["image"]
    errors, warnings = prepare.image_judge(prep, report, today=today)(
        {worker: {"Config": {"User": "", "Healthcheck": None}}, web: {"Config": {"User": "", "Healthcheck": None}}})
    assert errors == [] and len(warnings) == 1  # web sets user: 65534 in compose; the worker now runs as root
    assert warnings[0].startswith("USER-ROOT: services.worker")
