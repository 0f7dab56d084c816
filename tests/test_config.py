from pathlib import Path

import pytest

from gantry.config import bind_environment, list_environments, load_environment
from gantry.errors import ConfigError, ProblemList, UsageError

ROOT = Path(__file__).resolve().parent.parent
BASE = "project: app\ndeploy_path: /srv/app\n"


def problems(text):
    with pytest.raises(ProblemList) as exc:
        bind_environment(text, "environments/prod.yml")
    return [str(p) for p in exc.value.problems]


@pytest.mark.parametrize("text, expected", [
    (BASE + "hosts:\n  - address: a\n  - address: b\n    port: twenty-two\n",
     'environments/prod.yml:6:5: hosts[1].port: expected an integer, got "twenty-two"'),
    (BASE + "helth: {}\n", "environments/prod.yml:3:1: helth: unknown key\n  hint: did you mean 'health'?"),
    (BASE + "rollout: {max_paralel: 3}\n", "rollout.max_paralel: unknown key\n  hint: did you mean 'max_parallel'?"),
    ("deploy_path: /srv\n", "missing required key 'project'"),
    (BASE + "keep_releases: 1\n", "keep_releases: must be at least 2"),
    (BASE + "policy: {level: strict}\n", "policy.level: unknown level 'strict'"),
    (BASE + "hosts: {address: a}\n", "hosts: expected a list, got a mapping"),
    (BASE + "confirm: sometimes\n", 'confirm: expected a boolean (true/false), got "sometimes"'),
    (BASE + "policy: {waivers: [{rule: X, service: web, expires: soon}]}\n",
     'policy.waivers[0].expires: expected a date (YYYY-MM-DD), got "soon"'),
], ids=["port-type", "misspelt-top", "misspelt-nested", "missing-required", "keep-too-small", "bad-level",
        "hosts-not-list", "bool-type", "bad-date"])
def test_config_reports_key_path(text, expected):
    assert any(expected in p for p in problems(text)), problems(text)


def test_config_collects_every_problem_at_once():
    found = problems(BASE + "helth: {}\nhosts: [{address: a, port: x}]\nrollout: {batch: 1}\n")
    assert len(found) == 3


def test_config_bad_yaml_shows_line_and_column():
    with pytest.raises(ConfigError) as exc:
        bind_environment(BASE + "hosts: [a, b\n", "environments/x.yml")
    assert exc.value.where.startswith("environments/x.yml:4:")


def test_config_unknown_env_lists_known_ones():
    with pytest.raises(UsageError) as exc:
        load_environment(ROOT, "prd")
    assert "did you mean 'prod'" in exc.value.hint and "staging" in exc.value.hint


@pytest.mark.parametrize("name", ["local", "lab", "staging", "prod"])
def test_config_repo_environments_load(name):
    env = load_environment(ROOT, name)
    assert env.name == name and env.compose_files[0] == "compose/docker-compose.yml"
    assert env.base_dir == f"/srv/gantry/gantry-example/{name}"


def test_config_repo_has_the_four_environments():
    assert set(list_environments(ROOT)) >= {"local", "lab", "staging", "prod"}


def test_config_defaults_compose_files_and_secrets_file(tmp_path):
    (tmp_path / "environments").mkdir()
    (tmp_path / "compose").mkdir()
    (tmp_path / "compose/docker-compose.yml").write_text("services: {}\n")
    (tmp_path / "compose/docker-compose.qa.yml").write_text("services: {}\n")
    (tmp_path / "environments/qa.yml").write_text(BASE)
    env = load_environment(tmp_path, "qa")
    assert env.compose_files == ["compose/docker-compose.yml", "compose/docker-compose.qa.yml"]
    assert env.secrets_file == "secrets.qa.env"
    assert env.compose_project == "app-qa"
