"""Careless and hostile input (issue 12): one named test per class of the issue, with its neighbours.

Every case runs the task in-process as `inv` would (tests/hostiletools.py) and asserts the exit code, a
one-line located error, no traceback and no secret canary in anything printed.
"""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from gantry.secrets import load_secrets
from tests import hostiletools
from tests.hostiletools import CANARY_API, CANARY_DB, run_task, snapshot

BASE = "project: gantry-example\ndeploy_path: /srv/gantry\n"

project = hostiletools.project  # the fixture: a copy of the example project with its secrets


def ran_clean(ran, code):
    assert ran.code == code, ran.text
    assert "Traceback" not in ran.text and CANARY_DB not in ran.text and CANARY_API not in ran.text, ran.text
    return ran


def env_file(root: Path, text: str, name: str = "h") -> str:
    (root / "environments" / f"{name}.yml").write_text(text)
    return name


# 1. A missing secrets.example.env is an error, not "0 secrets".

@pytest.mark.parametrize("task", [("validate",), ("render",), ("render", "--out", "bundle"), ("check",)],
                         ids=["validate", "render", "render-out", "check"])
def test_hostile_missing_example_with_a_secrets_file_is_an_error(project, task):
    (project / "secrets.example.env").unlink()
    ran = ran_clean(run_task(project, *task, "--env", "prod"), 1)
    assert "secrets.example.env: does not exist: secrets.prod.env exists but would be ignored" in ran.err
    assert not (project / "bundle").exists()


def test_hostile_missing_example_with_unset_variables_is_an_error(project):
    (project / "secrets.example.env").unlink()
    (project / "secrets.prod.env").unlink()
    ran = ran_clean(run_task(project, "validate", "--env", "prod"), 1)
    assert "secrets.example.env: does not exist: 2 compose variable(s) have no value" in ran.err


@pytest.mark.parametrize("make, what", [
    (lambda p: p.mkdir(), "is a directory"),
    (lambda p: p.symlink_to("nowhere.env"), "is a symbolic link to a missing file"),
    (lambda p: os.mkfifo(p), "is a FIFO"),
], ids=["directory", "dangling-link", "fifo"])
def test_hostile_example_file_that_is_not_a_file(project, make, what):
    example = project / "secrets.example.env"
    example.unlink()
    make(example)
    assert f"secrets.example.env: {what}" in ran_clean(run_task(project, "validate", "--env", "prod"), 1).err


# 2. Errors name the file, line and key, never the content of the file.

def test_hostile_inventory_naming_the_secrets_file_quotes_nothing(project):
    name = env_file(project, BASE + "inventory: secrets.prod.env\n")
    for task in ("validate", "render", "check", "plan"):
        ran = ran_clean(run_task(project, task, "--env", name), 1)
        assert "secrets.prod.env:1:1: expected a list of hosts, got a text" in ran.err
    assert "INVALID" in ran_clean(run_task(project, "envs"), 0).out


@pytest.mark.parametrize("text", [
    "- address: [{DB_PASSWORD=" + CANARY_DB + "}]\n",
    "- {address: a, port: " + CANARY_DB + "}\n",
    "- {address: a, " + CANARY_DB + ": 1}\n",
], ids=["nested-value", "port-value", "unknown-key"])
def test_hostile_inventory_values_are_never_quoted(project, text):
    (project / "inv.yml").write_text(text)
    name = env_file(project, BASE + "inventory: inv.yml\n")
    ran = ran_clean(run_task(project, "validate", "--env", name), 1)
    assert "inv.yml:1:" in ran.err


def test_hostile_compose_file_naming_the_secrets_file_quotes_nothing(project):
    name = env_file(project, BASE + "compose_files: [secrets.prod.env]\n")
    ran_clean(run_task(project, "validate", "--env", name), 1)


@pytest.mark.parametrize("text", [
    f"services:\n  web:\n    image: x\n    \"DB_PASSWORD={CANARY_DB}\": 1\n",  # an unknown key that is a line
    f"services:\n  \"DB_PASSWORD={CANARY_DB}\":\n    image: x\n    bogus: 1\n",  # in the path of a problem
    f"root:x:0:0:{CANARY_DB}:/root:/bin/bash: 1\n",  # another file's line at the top level
    f"services:\n  web:\n    image: x\n    mem_limit: \"{CANARY_DB}=\"\n",  # a value the schema refuses
], ids=["unknown-key", "key-in-path", "top-level-line", "refused-value"])
def test_hostile_schema_errors_never_echo_keys_or_values_of_content(project, text):
    (project / "c.yml").write_text(text)
    for argv in (("check", "-f", "c.yml"), ("compose.config", "-f", "c.yml")):
        ran = ran_clean(run_task(project, *argv), 1)
        assert CANARY_DB not in ran.err + ran.out, ran.err
        assert "c.yml:" in ran.err or "services.web.mem_limit" in ran.err, ran.err


@pytest.mark.parametrize("value", [CANARY_DB * 2, "x" * 30, "two\\nlines"], ids=["long", "30-chars", "multiline"])
def test_hostile_long_config_values_are_described_not_quoted(project, value):
    ran = ran_clean(run_task(project, "validate", "--env", env_file(project, BASE + f'confirm: "{value}"\n')), 1)
    assert "confirm: expected a boolean (true/false), got a text of" in ran.err and value not in ran.err


@pytest.mark.parametrize("content", [
    "root:x:0:0:root:/root:/bin/bash\n",
    "systemd-network:x:998:998:systemd Network Management:/:/usr/sbin/nologin\n",
    f"DB_PASSWORD={CANARY_DB}\n",
    "host ssh-ed25519 not-base64!!\n",
    "host ssh-ed25519 AAAA\n",
], ids=["passwd-line", "passwd-with-spaces", "secrets-file", "bad-base64", "short-key"])
def test_hostile_known_hosts_errors_name_the_line_only(tmp_path, content):
    from gantry.errors import ConfigError
    from gantry.remote.executor import _known_hosts

    path = tmp_path / "known"
    path.write_text("# a comment\n\n" + content)
    with pytest.raises(ConfigError) as exc:
        _known_hosts(str(path))
    assert exc.value.where == f"{path}:3" and content.strip() not in str(exc.value) and CANARY_DB not in str(exc.value)


# 3. Every value round-trips through the bundle's .env, tested with the real binary, or validate refuses it.

def test_hostile_secret_values_validate_refuses():
    example = "A=change-me\n"
    for value, what in (("\udcffsurrogate", "not UTF-8"), ("tiny7", "shorter than 8")):
        _, problems = load_secrets(example, None, "secrets.prod.env", {"A": value})
        assert any(what in p.what for p in problems) and all(value not in str(p) for p in problems)


# 4. render --out never writes through a link, and refuses what is not a directory.

@pytest.mark.parametrize("planted", [".env", "compose.yaml", "manifest.json", "..env.tmp", ".env.tmp"])
def test_hostile_render_out_never_follows_a_planted_link(project, tmp_path, planted):
    out = tmp_path / "out"
    out.mkdir()
    target = tmp_path / "victim"
    target.write_text("untouched\n")
    target.chmod(0o644)
    (out / planted).symlink_to(target)
    ran_clean(run_task(project, "render", "--env", "prod", "--out", str(out)), 0)
    assert target.read_text() == "untouched\n" and (target.stat().st_mode & 0o777) == 0o644
    env = out / ".env"
    assert not env.is_symlink() and (env.stat().st_mode & 0o777) == 0o600 and CANARY_DB in env.read_text()
    assert sorted(p.name for p in out.iterdir() if not p.is_symlink()) == [".env", ".env.sha256", "compose.yaml",
                                                                           "manifest.json"]


@pytest.mark.parametrize("out, code, what", [
    ("-", 2, "a bundle is three files and cannot go to stdout"),
    ("existing-file", 2, "exists and is not a directory"),
    ("bundle-with-env-dir", 1, ".env: is a directory"),
], ids=["stdout-dash", "existing-file", "env-is-a-directory"])
def test_hostile_render_out_refuses_non_directories(project, out, code, what):
    (project / "existing-file").write_text("keep\n")
    (project / "bundle-with-env-dir" / ".env").mkdir(parents=True)
    before = snapshot(project)
    ran = ran_clean(run_task(project, "render", "--env", "prod", "--out", out), code)
    assert what in ran.err and len(ran.err.strip().splitlines()) <= 3
    assert not (project / "-").exists() and (project / "existing-file").read_text() == "keep\n"
    assert {k for k in snapshot(project) if not k.startswith(".gantry")} == set(before)


# 5. Environment and project names are checked before anything else; remote paths stay under deploy_path.

@pytest.mark.parametrize("name", ["../../x", "../prod", "Prod", "-x", "a b", "a/b", "..", ".hidden", "x\n"],
                         ids=["climb", "climb-to-prod", "uppercase", "dash", "space", "slash", "dotdot", "dot",
                              "newline"])
@pytest.mark.parametrize("task", ["validate", "render", "check", "plan", "status", "lock.release", "deploy",
                                  "rollback", "logs", "history", "releases"])
def test_hostile_environment_names_are_refused_before_any_connection(project, tmp_path, name, task):
    (tmp_path / "x.yml").write_text(BASE + "hosts: [{address: 192.0.2.1}]\n")
    ran = ran_clean(run_task(project, task, "--env", name), 2)
    assert "is not allowed: use lowercase letters" in ran.err and "192.0.2.1" not in ran.text


@pytest.mark.parametrize("text, key", [
    ("project: ../x\ndeploy_path: /srv\n", "project"),
    ("project: App\ndeploy_path: /srv\n", "project"),
    ("project: app\ndeploy_path: /srv/../etc\n", "deploy_path"),
    ("project: app\ndeploy_path: /srv/./x\n", "deploy_path"),
    ("project: app\ndeploy_path: srv\n", "deploy_path"),
], ids=["project-climb", "project-upper", "deploy-path-dotdot", "deploy-path-dot", "deploy-path-relative"])
def test_hostile_project_and_deploy_path_are_validated(project, text, key):
    ran = ran_clean(run_task(project, "validate", "--env", env_file(project, text)), 1)
    assert f"environments/h.yml: {key}:" in ran.err


@pytest.mark.parametrize("rid", ["../../etc", "x/../../y", "-rf", "..", "20261125T231722Z-5ee75ef290/.."])
def test_hostile_remote_paths_stay_under_the_base(rid):
    from gantry.engines.hosts import commands

    layout = commands.Layout("/srv/gantry/app/prod")
    with pytest.raises(ValueError):
        layout.release(rid)
    with pytest.raises(ValueError):
        commands.Layout("/srv/gantry/../etc")


@pytest.mark.parametrize("rid", ["../../x", "latest", "-f"])
def test_hostile_rollback_to_must_be_a_release_id(project, rid):
    assert "is not a release id" in ran_clean(run_task(project, "rollback", "--env", "prod", "--to", rid), 2).err


# A value whose name looks like a secret but that secrets.example.env does not declare would be written into
# compose.yaml and plans: an error at prod level, a warning elsewhere; the value is never shown.

@pytest.mark.parametrize("level, code", [("prod", 1), ("lab", 0)], ids=["prod-error", "lab-warning"])
def test_hostile_undeclared_secret_looking_variable(project, level, code):
    value = "sk_live_undeclared_7d41a9"
    (project / "c.yml").write_text("services:\n  web:\n    image: busybox:1.36\n    environment:\n"
                                   "      STRIPE: ${STRIPE_SECRET_KEY}\n      PLAIN: ${GREETING}\n")
    name = env_file(project, BASE + f"compose_files: [c.yml]\npolicy: {{level: {level}, rules: "
                    "{RES-LIMITS-MISSING: off, IMG-DIGEST-MISSING: off, LOG-ROTATION-MISSING: off}}\n"
                    "variables: {GREETING: hi}\n")
    (project / f"secrets.{name}.env").write_text("DB_PASSWORD=long-enough-1\nAPI_TOKEN=long-enough-2\n")
    (project / f"secrets.{name}.env").chmod(0o600)
    ran = run_task(project, "validate", "--env", name, environ={"STRIPE_SECRET_KEY": value})
    assert ran.code == code and "Traceback" not in ran.text, ran.text
    assert "STRIPE_SECRET_KEY} looks like a secret but is not declared in secrets.example.env" in ran.err, ran.err
    assert "GREETING" not in ran.err and value not in ran.text


# --json: a task that stops on an error still prints exactly one JSON document on stdout (a CI job's result).

def test_hostile_json_on_an_error_is_one_document(project):
    import json as jsonlib

    (project / "secrets.prod.env").unlink()
    ran = run_task(project, "deploy", "--env", "prod", "--yes", "--json")
    doc = jsonlib.loads(ran.out)
    assert ran.code == 1 and doc["outcome"] == "error" and doc["exit_code"] == 1, ran.text
    assert any(e["where"] == "secrets.example.env: DB_PASSWORD" for e in doc["errors"]), doc
    # status prints its document, then fails on the host it could not reach: still one document
    name = env_file(project, BASE + "hosts: [{address: 127.0.0.1, port: 1, name: closed}]\n"
                    "ssh: {connect_timeout: 1, connect_retries: 1}\n")
    ran = run_task(project, "status", "--env", name, "--json")
    doc = jsonlib.loads(ran.out)  # one document, or this raises
    assert ran.code == 4 and "Traceback" not in ran.text and "hosts" in doc, ran.text
