"""Careless and hostile input (issue 12), classes 6-9: YAML 1.2 rules, duplicate keys, limits, tracebacks."""

from __future__ import annotations

import re

import pytest

from gantry import yamlio
from gantry.config import bind_environment
from gantry.errors import ConfigError, ProblemList
from tests import hostiletools
from tests.hostiletools import run_task
from tests.test_hostile_input import BASE, env_file, ran_clean

project = hostiletools.project  # the fixture: a copy of the example project with its secrets


def bomb(levels: int = 9) -> str:
    lines = ["a0: &a0 [lol, lol, lol, lol, lol, lol, lol, lol, lol]"]
    for i in range(1, levels):
        lines.append(f"a{i}: &a{i} [" + ", ".join([f"*a{i - 1}"] * 9) + "]")
    return "\n".join(lines) + "\n"


# 6. Environment files are YAML 1.2, and variables are the text the user wrote.

@pytest.mark.parametrize("written, kept", [
    ("1.10", "1.10"), ("0777", "0777"), ("1:30", "1:30"), ("yes", "yes"), ("off", "off"), ("1e3", "1e3"),
    ("0x1F", "0x1F"), ("2026-01-02", "2026-01-02"), ("~x", "~x"), ("'1.10'", "1.10"), ("1_000", "1_000"),
], ids=["version", "octal", "sexagesimal", "yes", "off", "exponent", "hex", "date", "tilde", "quoted", "underscore"])
def test_hostile_variables_keep_the_text_as_written(written, kept):
    env = bind_environment(BASE + f"variables:\n  V: {written}\n", "environments/h.yml")
    assert env.variables == {"V": kept}


@pytest.mark.parametrize("written, warned", [("1.10", True), ("0777", True), ("1:30", True), ("yes", True),
                                             ("'1.10'", False), ("8080", False), ("web", False)],
                         ids=["version", "octal", "sexagesimal", "yes", "quoted", "port", "word"])
def test_hostile_variables_warn_where_yaml_1_1_reads_differently(written, warned):
    env = bind_environment(BASE + f"variables:\n  V: {written}\n", "environments/h.yml")
    assert bool(env.warnings) == warned, env.warnings
    assert all(w.startswith("environments/h.yml:4:6: variables.V:") for w in env.warnings)


def test_hostile_image_tag_1_10_is_deployed_as_1_10(project):
    prod = (project / "environments/prod.yml").read_text()
    name = env_file(project, prod.replace("variables:\n", "variables:\n  WEB_TAG: 1.10\n"), "prod")
    ran = ran_clean(run_task(project, "render", "--env", name), 0)
    assert "/gantry-example/web:1.10\n" in ran.out
    assert "variables.WEB_TAG" in ran_clean(run_task(project, "validate", "--env", name), 0).err


@pytest.mark.parametrize("text, ok", [
    ("policy: {rules: {PORT-HOST-WILDCARD: off}}\n", True),
    ("confirm: yes\n", False), ("confirm: on\n", False), ("confirm: true\n", True),
    ("keep_releases: 0x10\n", True), ("ssh: {connect_timeout: 1:30}\n", False),
], ids=["rule-off", "confirm-yes", "confirm-on", "confirm-true", "hex-int", "sexagesimal-timeout"])
def test_hostile_environment_keys_follow_yaml_1_2(text, ok):
    if ok:
        bind_environment(BASE + text, "environments/h.yml")
    else:
        with pytest.raises(ProblemList):
            bind_environment(BASE + text, "environments/h.yml")


def test_hostile_text_fields_keep_numbers_as_written():
    env = bind_environment(BASE + "hosts: [{address: 10.0.0.1, name: 1.10, labels: {zone: 0777, v: 1.50}}]\n",
                           "environments/h.yml")
    assert env.hosts[0].name == "1.10" and env.hosts[0].labels == {"zone": "0777", "v": "1.50"}


# 7. Duplicate keys are rejected, as in compose files.

@pytest.mark.parametrize("text", [
    BASE + "project: other\n", BASE + "variables: {A: 1, A: 2}\n",
    BASE + "rollout:\n  batch_size: 1\n  batch_size: 2\n",
], ids=["top", "flow-variables", "nested"])
def test_hostile_duplicate_keys_in_environment_files(text):
    with pytest.raises(ConfigError, match="already defined at line"):
        bind_environment(text, "environments/h.yml")


def test_hostile_duplicate_keys_in_inventory(project):
    (project / "inv.yml").write_text("- {address: a, address: b}\n")
    ran = ran_clean(run_task(project, "validate", "--env", env_file(project, BASE + "inventory: inv.yml\n")), 1)
    assert "inv.yml:1:16: mapping key 'address' already defined" in ran.err


# 8. Limits on YAML: alias expansion, nesting, size; one bad environment does not break `inv envs`.

@pytest.mark.parametrize("text, what", [
    (bomb(), "expands to more than"), ("a: " + "[" * 400 + "]" * 400 + "\n", "nested deeper than 64"),
    ("a: " + "{b: " * 100 + "1" + "}" * 100 + "\n", "nested deeper than 64"),
    ("x: &x [1]\n" + "".join(f"x{i}: &x{i} [[[[[[[[[[*{'x' if i == 0 else f'x{i - 1}'}]]]]]]]]]]\n"
                             for i in range(10)), "nested deeper than 64 levels (counting aliases)"),
], ids=["alias-bomb", "deep-list", "deep-map", "deep-by-aliases"])
def test_hostile_yaml_limits(text, what):
    with pytest.raises(ConfigError, match=re.escape(what)):
        yamlio.load_documents(text, "f.yml")


@pytest.mark.parametrize("where", ["environments/h.yml", "compose/docker-compose.yml", "inv.yml"])
def test_hostile_alias_bomb_in_every_file(project, where):
    name = env_file(project, BASE + "inventory: inv.yml\ncompose_files: [compose/docker-compose.yml]\n")
    (project / "inv.yml").write_text("[]\n")
    (project / where).write_text(bomb())
    ran = ran_clean(run_task(project, "validate", "--env", name), 1)
    assert f"{where}:" in ran.err and "expands to more than" in ran.err
    envs = ran_clean(run_task(project, "envs"), 0).out
    assert "prod\n" in envs and "staging\n" in envs


def test_hostile_oversized_file(project):
    (project / "compose/docker-compose.yml").write_text("# " + "x" * yamlio.MAX_BYTES + "\n")
    ran = ran_clean(run_task(project, "validate", "--env", "prod"), 1)
    assert f"compose/docker-compose.yml: is {yamlio.MAX_BYTES + 3} bytes; the limit is {yamlio.MAX_BYTES}" in ran.err


# 9. User mistakes are one-line errors with file and line, never tracebacks.

@pytest.mark.parametrize("where", ["environments/prod.yml", "compose/docker-compose.yml",
                                   "compose/docker-compose.prod.yml", "secrets.prod.env", "secrets.example.env"])
@pytest.mark.parametrize("data, what", [
    (b"project: caf\xe9\n", "is not UTF-8 text (byte 0xe9)"), (b"a: 1\nb: \x00\n", "contains a NUL byte"),
    (b"\xff\xfe\x00\x01", "is not UTF-8 text"),
], ids=["latin-1", "nul", "binary"])
def test_hostile_bad_bytes_in_every_file(project, where, data, what):
    path = project / where
    path.write_bytes(data)
    if where.startswith("secrets."):
        path.chmod(0o600)
    ran = ran_clean(run_task(project, "validate", "--env", "prod"), 1)
    assert f"{where}:" in ran.err and what in ran.err


@pytest.mark.parametrize("text, what", [
    ("services:\n  web:\n    image: !!int abc\n", 'cannot decode "abc" as !!int'),
    ("services:\n  web:\n    image: !!python/object/apply:os.system [id]\n", "unsupported tag !!python/object/apply"),
    ("services:\n  web:\n    image: !!python/name:os.system ''\n", "unsupported tag !!python/name"),
    ("services:\n  web:\n    image: !!binary aGk=\n", "unsupported tag !!binary"),
    ("services:\n  web:\n    image: \"a\\0b\"\n", "a value contains a NUL character"),
], ids=["int-tag", "python-apply", "python-name", "binary", "nul-escape"])
def test_hostile_yaml_tags_and_escapes(project, text, what):
    (project / "c.yml").write_text(text)
    ran = ran_clean(run_task(project, "compose.config", "-f", "c.yml"), 1)
    assert "c.yml:3:12: " + what in ran.err and "os.system" not in ran.out


def test_hostile_service_that_is_a_list(project):
    (project / "c.yml").write_text("services:\n  web: [1, 2]\n")
    ran_clean(run_task(project, "compose.config", "-f", "c.yml"), 1)


@pytest.mark.parametrize("argv, flag", [
    (("history", "--env", "prod", "--limit", "abc"), "--limit"), (("history", "--env", "prod", "--limit", "-1"),
                                                                  "--limit"),
    (("deploy", "--env", "prod", "--lock-wait", "abc"), "--lock-wait"),
    (("deploy", "--env", "prod", "--lock-wait", "nan"), "--lock-wait"),
    (("rollback", "--env", "prod", "--lock-wait", "-5"), "--lock-wait"),
    (("logs", "--env", "prod", "--lines", "1e3"), "--lines"), (("lab.up", "--hosts", "0"), "--hosts"),
], ids=["limit-text", "limit-negative", "lock-wait-text", "lock-wait-nan", "lock-wait-negative", "lines-float",
        "hosts-zero"])
def test_hostile_numeric_flags(project, argv, flag):
    ran = ran_clean(run_task(project, *argv), 2)
    assert ran.err.startswith(f"error: {flag}: expected a ") and "Traceback" not in ran.err


@pytest.mark.parametrize("text, want", [("a: 1\n", {"a": 1}), ("", None), ("# nothing\n", None)],
                         ids=["one", "empty", "comment-only"])
def test_hostile_yaml_load_document_one_or_none(text, want):
    assert yamlio.load_document(text, "f.yml").data == want


def test_hostile_yaml_load_document_refuses_a_stream():
    with pytest.raises(ConfigError, match=re.escape("holds 2 YAML documents")):
        yamlio.load_document("a: 1\n---\nb: 2\n", "f.yml")
