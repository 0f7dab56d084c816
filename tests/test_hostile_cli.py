"""Careless and hostile input (issue 12), classes 10-14: usage exit codes, ranges, masking and fingerprints,
option-like names, unclear errors. (Class 3, the .env round trip through `docker compose`, is in test_secrets.)"""

from __future__ import annotations

import hashlib
import json
import os
import stat
import subprocess

import pytest

from gantry.engines.hosts import commands
from gantry.output import make_redactor
from gantry.shell import render
from tests import hostiletools
from tests.hostiletools import CANARY_DB, run_task, write_secrets
from tests.test_hostile_input import BASE, env_file, ran_clean

project = hostiletools.project  # the fixture: a copy of the example project with its secrets


# 10. Usage errors exit 2 with one line, in-process and through the real `inv`.

USAGE = [
    (("validate", "--bogus"), "No idea what '--bogus' is!"), (("nope",), "No idea what 'nope' is!"),
    (("validate", "--env"), "flag --env needed value"), (("check", "--level", "production", "-f", "x.yml"),
                                                          "--level: unknown level \"production\""),
    (("check", "--env", "prod", "--format", "xml"), "--format: unknown format"),
    (("compose.config", "-f", "compose/docker-compose.yml", "--format", "toml"), "--format: unknown format"),
    (("--list", "nope"), "Sub-collection 'nope' not found"), (("--help", "nope"), "No idea what 'nope' is!"),
    (("validate",), "--env: no environment given"), (("validate", "--env", "prd"), "did you mean 'prod'"),
    (("envs", "-f", "--env"), "-f/--config --env: not an Invoke config file"),
    (("-f", "nope.toml", "envs"), "-f/--config nope.toml: not an Invoke config file"),
    (("compose.config",), "-f: no compose file given"), (("compose.config", "-f", "missing.yml"),
                                                         "-f missing.yml: file does not exist"),
]


@pytest.mark.parametrize("argv, what", USAGE, ids=["unknown-flag", "unknown-task", "missing-value", "bad-level",
                                                   "bad-check-format", "bad-config-format", "list-unknown",
                                                   "help-unknown", "no-env", "unknown-env", "core-config-flag",
                                                   "core-config-file", "no-file", "missing-file"])
def test_hostile_usage_errors_exit_2(project, argv, what):
    ran = ran_clean(run_task(project, *argv), 2)
    assert what in ran.err and ran.err.startswith("error: ") and ran.out == ""


@pytest.mark.parametrize("argv", [("validate", "--bogus"), ("check", "--level", "production", "-f", "x"),
                                  ("history", "--env", "prod", "--limit", "abc")], ids=["flag", "choice", "number"])
def test_hostile_usage_errors_exit_2_through_inv(project, argv):
    proc = subprocess.run(["inv", *argv], cwd=project, capture_output=True, text=True, timeout=60)
    assert proc.returncode == 2 and "Traceback" not in proc.stderr and proc.stderr.startswith("error: ")


# 11. Values that type-check but make no sense are validate errors with the key path.

@pytest.mark.parametrize("text, key", [
    ("rollout: {batch_size: -1}\n", "rollout.batch_size: must be at least 0"),
    ("rollout: {max_parallel: 0}\n", "rollout.max_parallel: must be at least 1"),
    ("ssh: {connect_timeout: -1}\n", "ssh.connect_timeout: must be a number of seconds"),
    ("ssh: {command_timeout: .nan}\n", "ssh.command_timeout: must be a number of seconds"),
    ("ssh: {command_timeout: .inf}\n", "ssh.command_timeout: must be a number of seconds"),
    ("ssh: {connect_timeout: 0}\n", "ssh.connect_timeout: must be a number of seconds from more than 0"),
    ("ssh: {connect_retries: -2}\n", "ssh.connect_retries: must be at least 0"),
    ("health: {timeout: 1e12}\n", "health.timeout: must be a number of seconds"),
    ("health: {interval: 0}\n", "health.interval: must be a number of seconds"),
    ("health: {settle: -.5}\n", "health.settle: must be a number of seconds"),
    ("hosts: [{address: a}, {address: b, name: a}]\n", "hosts: host \"a\" is listed more than once"),
    ("hosts: [{address: a}, {address: a}]\n", "hosts: host \"a\" is listed more than once"),
    ("hosts: [{address: a, name: x}, {address: a, name: y}]\n", "hosts: host \"a:22\" is listed more than once"),
    ("inventory: nowhere.yml\n", "inventory: nowhere.yml does not exist"),
], ids=["batch-negative", "parallel-zero", "timeout-negative", "timeout-nan", "timeout-inf", "timeout-zero",
        "retries-negative", "health-huge", "interval-zero", "settle-negative", "dup-name", "dup-address",
        "dup-address-named",
        "missing-inventory"])
def test_hostile_ranges_are_validate_errors(project, text, key):
    ran = ran_clean(run_task(project, "validate", "--env", env_file(project, BASE + text)), 1)
    assert key in ran.err


def test_hostile_duplicate_host_between_hosts_and_inventory(project):
    (project / "inv.yml").write_text("- {address: 10.0.0.1, name: web-1}\n")
    text = BASE + "inventory: inv.yml\nhosts: [{address: 10.0.0.2, name: web-1}]\n"
    assert "host \"web-1\" is listed more than once (with inv.yml)" in \
        ran_clean(run_task(project, "validate", "--env", env_file(project, text)), 1).err


@pytest.mark.parametrize("value", ["web", "1", "short7", "secret"], ids=["service-name", "one-char", "7", "6"])
def test_hostile_short_secrets_are_refused(project, value):
    write_secrets(project, f"DB_PASSWORD={value}\nAPI_TOKEN={CANARY_DB}\n")
    ran = ran_clean(run_task(project, "validate", "--env", "prod"), 1)
    assert "secrets.prod.env: DB_PASSWORD: secret is shorter than 8 characters" in ran.err


# 12. Masking: a short value only as a whole token (cannot garble a plan), a value of 8 characters or more
# (all that validation lets through) wherever it appears; fingerprints are keyed.

@pytest.mark.parametrize("text, want", [
    ("services: web, webapp, web-1", "services: ***, webapp, ***-1"), ("pw=hunter2-long;", "pw=***;"),
    ("xhunter2-longx", "x***x"), ("a $ecret! b", "a *** b"), ("url://u:hunter2-long@h", "url://u:***@h"),
], ids=["short-only-whole-words", "delimited", "long-inside-a-word", "symbol-edges", "in-url"])
def test_hostile_redactor_masks_whole_tokens(text, want):
    assert make_redactor(["web", "hunter2-long", "$ecret!"])(text) == want


def test_hostile_manifest_fingerprints_are_keyed(project, tmp_path):
    out = tmp_path / "out"
    ran_clean(run_task(project, "render", "--env", "prod", "--out", str(out)), 0)
    manifest = json.loads((out / "manifest.json").read_text())
    unsalted = hashlib.sha256(f"gantry:DB_PASSWORD={CANARY_DB}".encode()).hexdigest()[:12]
    assert manifest["secrets"]["DB_PASSWORD"] != unsalted and len(manifest["secrets"]["DB_PASSWORD"]) == 12
    key = project / ".gantry/keys/prod.key"
    assert stat.S_IMODE(key.stat().st_mode) == 0o600 and stat.S_IMODE(key.parent.stat().st_mode) == 0o700
    again = tmp_path / "again"
    ran_clean(run_task(project, "render", "--env", "prod", "--out", str(again)), 0)
    assert json.loads((again / "manifest.json").read_text())["secrets"] == manifest["secrets"]
    other = tmp_path / "other"
    ran_clean(run_task(project, "render", "--env", "prod", "--out", str(other),
                       environ={"GANTRY_FINGERPRINT_KEY": "a-ci-secret-key-0123456789"}), 0)
    assert json.loads((other / "manifest.json").read_text())["secrets"] != manifest["secrets"]


def test_hostile_fingerprint_key_is_never_read_through_a_link(project, tmp_path):
    (project / ".gantry/keys").mkdir(parents=True)
    (project / ".gantry/keys/prod.key").symlink_to(tmp_path / "elsewhere")
    ran = ran_clean(run_task(project, "render", "--env", "prod", "--out", str(tmp_path / "o")), 1)
    assert ".gantry/keys/prod.key: cannot be read" in ran.err and not (tmp_path / "elsewhere").exists()


# 13. Names beginning with '-' never reach an option position.

LAYOUT = commands.Layout("/srv/a/p/e")


@pytest.mark.parametrize("cmd", [
    commands.pull_and_up("p", LAYOUT, "r1", ["-x"]), commands.image_digests(["-x"]), commands.image_config(["-x"]),
    commands.container_logs("-x"), commands.inspect_health(["-x"]), commands.compose_logs("p", 5, "-x"),
    commands.compose_stop("p", LAYOUT, "r1", ["-x"]),
], ids=["pull-and-up", "digests", "config", "logs", "inspect", "compose-logs", "compose-stop"])
def test_hostile_positional_names_follow_double_dash(cmd):
    text = render(cmd)
    assert " -- " in text and text.index(" -- ") < text.index(" -x")


@pytest.mark.parametrize("text, what", [
    ("services:\n  -x:\n    image: busybox\n", "services.-x: service name \"-x\" begins with '-'"),
    ("services:\n  web:\n    image: -busybox\n", "services.web.image: image \"-busybox\" begins with '-'"),
    # the Compose schema's pattern for container_name refuses it first, as the binary does
    ("services:\n  web:\n    image: busybox\n    container_name: -f\n", "does not match '[a-zA-Z0-9][a-zA-Z0-9_.-]+'"),
], ids=["service", "image", "container"])
def test_hostile_option_like_names_are_validate_errors(project, text, what):
    (project / "c.yml").write_text(text)
    name = env_file(project, BASE + "compose_files: [c.yml]\n")
    assert what in ran_clean(run_task(project, "validate", "--env", name), 1).err


@pytest.mark.parametrize("service", ["-f", "--follow", "a b", "web;id"])
def test_hostile_logs_service_is_checked_before_connecting(project, service):
    assert "is not a service name" in ran_clean(run_task(project, "logs", "--env", "prod", "--service", service), 2).err


# 14. Clear errors for files that are not regular files.

@pytest.mark.parametrize("make, what", [
    (lambda p: p.mkdir(), "secrets.prod.env: is a directory, not a file"),
    (lambda p: os.mkfifo(p), "secrets.prod.env: is a FIFO, not a regular file"),
    (lambda p: p.symlink_to("gone.env"), "secrets.prod.env: is a symbolic link to a missing file"),
], ids=["directory", "fifo", "dangling-link"])
def test_hostile_secrets_file_that_is_not_a_file(project, make, what):
    path = project / "secrets.prod.env"
    path.unlink()
    make(path)
    ran = ran_clean(run_task(project, "validate", "--env", "prod"), 1)
    assert what in ran.err and "secret has no value" not in ran.err


@pytest.mark.parametrize("argv, code, what", [
    (("compose.config", "-f", "/dev/null"), 1, "/dev/null: is a device, not a regular file"),
    (("check", "-f", "/dev/null"), 1, "/dev/null: is a device"), (("compose.config", "-f", "compose"), 1,
                                                                   "compose: is a directory"),
    (("compose.config", "-f", "compose/docker-compose.yml", "--env-file", "compose"), 1, "compose: is a directory"),
    (("compose.config", "-f", "compose/docker-compose.yml", "--env-file", "nope.env"), 2, "file does not exist"),
], ids=["config-dev-null", "check-dev-null", "config-dir", "env-file-dir", "env-file-missing"])
def test_hostile_special_files_given_on_the_command_line(project, argv, code, what):
    assert what in ran_clean(run_task(project, *argv), code).err


@pytest.mark.parametrize("path, what", [("/dev/null", "/dev/null: is a device"), ("compose", "compose: is a directory"),
                                        ("nope.yml", "compose_files: nope.yml does not exist")],
                         ids=["device", "directory", "missing"])
def test_hostile_special_files_named_by_the_environment(project, path, what):
    name = env_file(project, BASE + f"compose_files: [{path}]\n")
    assert what in ran_clean(run_task(project, "validate", "--env", name), 1).err
