"""`gantry init` in app repositories shaped like awesome-compose samples, and the `gantry` command itself."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from gantry import init

REPO = Path(__file__).resolve().parent.parent
FIXTURES = Path(__file__).resolve().parent / "fixtures" / "init"


def gantry(cwd: Path, *args: str, env: dict | None = None) -> subprocess.CompletedProcess:
    """The `gantry` command as a user runs it (python -m gantry is the same entry point as the script)."""
    base = {k: v for k, v in os.environ.items() if not k.startswith("GANTRY_")}
    proc = subprocess.run([sys.executable, "-m", "gantry", *args], cwd=cwd, capture_output=True, text=True,
                          env={**base, "PYTHONPATH": str(REPO), **(env or {})}, timeout=120)
    assert "Traceback" not in proc.stderr + proc.stdout, proc.stderr
    return proc


@pytest.fixture
def repo(tmp_path, request):
    dest = tmp_path / request.param
    shutil.copytree(FIXTURES / request.param, dest)
    return dest


# -- the console script -----------------------------------------------------------------------------


def test_console_script_is_declared_and_is_the_module_entry_point():
    text = (REPO / "pyproject.toml").read_text()
    assert '[project.scripts]\ngantry = "gantry.cli.main:main"\n' in text  # tomllib is 3.11+, we support 3.10


def test_gantry_version_and_help_list_the_same_tasks_as_inv(tmp_path):
    assert gantry(tmp_path, "--version").stdout.strip() == "Gantry 0.1.0"
    listed = gantry(tmp_path, "--list").stdout
    inv = subprocess.run(["inv", "--list"], cwd=REPO, capture_output=True, text=True, timeout=60,
                         env={**os.environ, "PYTHONPATH": str(REPO)})
    assert inv.returncode == 0, inv.stderr
    names = {line.split()[0] for line in listed.splitlines()[2:] if line.strip()}
    assert names == {line.split()[0] for line in inv.stdout.splitlines()[2:] if line.strip()}
    assert {"init", "deploy", "plan", "lock.release", "compose.config"} <= names


def test_gantry_finds_the_project_from_a_subdirectory_with_invs_exit_codes(tmp_path):
    shutil.copytree(REPO / "environments", tmp_path / "environments")
    (tmp_path / "docs").mkdir()
    unknown = gantry(tmp_path / "docs", "validate", "--env", "prd")
    assert unknown.returncode == 2 and "did you mean 'prod'" in unknown.stderr
    assert "bench" in gantry(tmp_path / "docs", "envs").stdout
    assert gantry(tmp_path, "deploy", "--no-such-flag").returncode == 2  # a usage error, as with inv


# -- pure stages -------------------------------------------------------------------------------------


@pytest.mark.parametrize("files, base, variants", [
    (["compose.yaml", "README.md"], "compose.yaml", {}),
    (["docker-compose.yml", "docker-compose.override.yml", "docker-compose.prod.yml"], "docker-compose.yml",
     {"override": "docker-compose.override.yml", "prod": "docker-compose.prod.yml"}),
    (["compose/docker-compose.yml", "compose/docker-compose.dev.yml"], "compose/docker-compose.yml",
     {"dev": "compose/docker-compose.dev.yml"}),
    (["compose.yaml", "compose.prod.yml"], "compose.yaml", {"prod": "compose.prod.yml"}),
], ids=["single", "override-and-prod", "in-compose-dir", "mixed-extension"])
def test_init_finds_compose_files(files, base, variants):
    found = init.find_compose_files(files)
    assert (found.base, dict(found.variants)) == (base, variants)


def test_init_finds_no_compose_file_in_an_unrelated_tree():
    assert init.find_compose_files(["Makefile", "src/main.c"]) is None


@pytest.mark.parametrize("name, secret", [
    ("MYSQL_ROOT_PASSWORD", True), ("FLASK_SECRET_KEY", True), ("API_TOKEN", True), ("DATABASE_URL", True),
    ("SENTRY_DSN", True), ("AWS_ACCESS_KEY_ID", True), ("TAG", False), ("APP_ENV", False), ("MONKEY", False),
    ("LOG_LEVEL", False),
], ids=lambda v: str(v))
def test_init_secret_looking_names(name, secret):
    assert init.is_secret_name(name) is secret


@pytest.mark.parametrize("existing, added", [
    ("", "secrets.*.env\n!secrets.example.env\n/.gantry/\n"),
    ("node_modules/", "secrets.*.env\n!secrets.example.env\n/.gantry/\n"),
    ("secrets.*.env\n!secrets.example.env\n/.gantry/\n", ""),
    ("secrets.*.env\n", "!secrets.example.env\n/.gantry/\n"),
], ids=["none", "no-final-newline", "all-present", "one-present"])
def test_init_gitignore_appends_only_missing_lines(existing, added):
    text = init.gitignore_addition(existing)
    assert "".join(line + "\n" for line in text.splitlines() if line and not line.startswith("#")) == added
    if text:
        assert (existing + text).splitlines()[: len(existing.splitlines())] == existing.splitlines()


# -- gantry init on the three repositories -----------------------------------------------------------

EXPECTED = {
    "web-db": (["compose.yaml"], ["MYSQL_PASSWORD", "MYSQL_ROOT_PASSWORD"], []),
    "python-build": (["compose.yaml"], ["FLASK_SECRET_KEY"], ["APP_ENV"]),
    "multi-override": (["docker-compose.yml", "docker-compose.prod.yml"],
                       ["DATABASE_URL", "SECRET_KEY", "SMTP_PASSWORD"], ["TAG"]),
}


@pytest.mark.parametrize("repo", sorted(EXPECTED), indirect=True)
def test_init_writes_skeletons_that_validate_reports_until_edited(repo):
    compose_files, secret_names, plain = EXPECTED[repo.name]
    before = {p: p.read_bytes() for p in repo.rglob("*") if p.is_file() and p.name != ".gitignore"}
    proc = gantry(repo, "init")
    assert proc.returncode == 0, proc.stderr
    for p, data in before.items():
        assert p.read_bytes() == data, f"{p} changed"
    for env in ("staging", "prod"):
        doc = yaml.safe_load((repo / f"environments/{env}.yml").read_text())
        assert doc["compose_files"] == compose_files
        assert all(h["address"].endswith(".invalid") for h in doc["hosts"])
        for name in plain:
            assert f"#  {name}: " in (repo / f"environments/{env}.yml").read_text()
    example = (repo / "secrets.example.env").read_text()
    assert sorted(line.split("=")[0] for line in example.splitlines() if "=" in line and line[0] != "#") == \
        secret_names
    assert "secrets.*.env" in (repo / ".gitignore").read_text()
    assert "!secrets.example.env" in (repo / ".gitignore").read_text()
    # It ends with validate's first problems: the placeholder hosts first, then the missing secrets.
    assert "prod-1.CHANGE-ME.invalid is a placeholder" in proc.stdout
    for name in secret_names + plain:
        assert name in proc.stdout
    assert "prod: " in proc.stdout and "problems found." in proc.stdout
    validate = gantry(repo, "validate", "--env", "staging")
    assert validate.returncode == 1 and "staging-1.CHANGE-ME.invalid is a placeholder" in validate.stderr
    assert not (repo / ".github").exists()


@pytest.mark.parametrize("repo", ["multi-override"], indirect=True)
def test_init_never_overwrites_and_a_second_run_changes_nothing(repo):
    (repo / "environments").mkdir()
    (repo / "environments/prod.yml").write_text("project: mine\n")
    first = gantry(repo, "init", "--workflow")
    assert "kept environments/prod.yml (it exists; not overwritten)" in first.stdout
    assert (repo / "environments/prod.yml").read_text() == "project: mine\n"
    workflow = yaml.safe_load((repo / ".github/workflows/deploy.yml").read_text())
    assert set(workflow["jobs"]["deploy"]["env"]) == {"DATABASE_URL", "SECRET_KEY", "SMTP_PASSWORD"}
    snapshot = {p: p.read_bytes() for p in repo.rglob("*") if p.is_file()}
    second = gantry(repo, "init", "--workflow")
    assert second.returncode == 0 and "wrote" not in second.stdout and "appended" not in second.stdout
    assert {p: p.read_bytes() for p in repo.rglob("*") if p.is_file()} == snapshot


@pytest.mark.parametrize("repo", ["web-db"], indirect=True)
def test_init_then_real_hosts_and_secrets_make_the_environment_valid_but_for_policy(repo):
    gantry(repo, "init")
    path = repo / "environments/staging.yml"
    path.write_text(path.read_text().replace("staging-1.CHANGE-ME.invalid", "10.0.0.5"))
    secrets = {"MYSQL_PASSWORD": "db-canary-7f3a91", "MYSQL_ROOT_PASSWORD": "root-canary-02bd44"}
    proc = gantry(repo, "validate", "--env", "staging", env=secrets)
    assert "placeholder" not in proc.stderr and "secret has no value" not in proc.stderr
    assert "policy " in proc.stderr  # what is left is the prod policy's findings on the sample's compose file
    assert all(v not in proc.stderr + proc.stdout for v in secrets.values())


def test_init_in_a_directory_without_compose_files_says_so(tmp_path):
    proc = gantry(tmp_path, "init")
    assert proc.returncode == 1 and "no compose file found" in proc.stderr
    assert not (tmp_path / "environments").exists()
