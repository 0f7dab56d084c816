"""`gantry exec` on real lab hosts: the command runs in the service's container with the release's environment."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.labtools import lab_or_skip, project_with_lab_secrets, run_gantry

REPO = Path(__file__).resolve().parent.parent
CANARY_DB, CANARY_API = "canary-db-exec-77ab01", "canary-api-exec-e41c5d"

pytestmark = pytest.mark.e2e


@pytest.fixture(scope="module")
def lab(tmp_path_factory):
    root = project_with_lab_secrets(tmp_path_factory.mktemp("project"),
                                    {"DB_PASSWORD": CANARY_DB, "API_TOKEN": CANARY_API})
    for up in lab_or_skip(root, 2):
        yield root, up


gantry = run_gantry


def test_e2e_exec_runs_in_the_container_on_every_host_with_the_release_environment(lab):
    root, up = lab
    assert gantry(root, "deploy", "--env", "lab", "--yes").returncode == 0
    proc = gantry(root, "exec", "--env", "lab", "--service", "web", "--", "sh", "-c",
                  'test "$DB_PASSWORD" = ' + CANARY_DB + ' && echo "has the secret; args: $0"', "two words")
    assert proc.returncode == 0, proc.stderr
    for h in up.hosts:
        assert f"== {h.name} (exit 0) ==" in proc.stdout
    assert proc.stdout.count("has the secret; args: two words") == 2
    assert CANARY_DB not in proc.stdout + proc.stderr


def test_e2e_exec_on_one_host_returns_the_commands_exit_code_and_masks_secrets(lab):
    root, up = lab
    proc = gantry(root, "exec", "--env", "lab", "--service", "worker", "--host", up.hosts[1].name, "--",
                  "sh", "-c", 'echo "token=$API_TOKEN"; exit 7')
    assert proc.returncode == 7
    assert f"== {up.hosts[1].name} (exit 7) ==" in proc.stdout and up.hosts[0].name not in proc.stdout
    assert "token=***" in proc.stdout and CANARY_API not in proc.stdout + proc.stderr


def test_e2e_exec_without_a_command_is_a_usage_error(lab):
    root, _ = lab
    proc = gantry(root, "exec", "--env", "lab", "--service", "web")
    assert proc.returncode == 2 and "give --service and a command after --" in proc.stderr


def test_e2e_exec_in_a_service_that_does_not_run_is_a_usage_error_naming_what_runs(lab):
    root, up = lab
    proc = gantry(root, "exec", "--env", "lab", "--service", "nosuch", "--", "true")
    assert proc.returncode == 2, proc.stdout + proc.stderr
    assert f"{up.hosts[0].name} [exec]: service 'nosuch' has no running container" in proc.stderr
    assert "running: web, worker" in proc.stderr and "Traceback" not in proc.stderr
