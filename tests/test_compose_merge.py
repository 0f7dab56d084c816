"""Merge rules as (base, override, want) YAML cases, plus the loader, errors and rendering."""

from __future__ import annotations

import json
import textwrap

import pytest
import yaml

from gantry.compose import ComposeModel, SourceFile, load_compose, render_json, render_yaml
from gantry.compose.gostr import go_float
from gantry.errors import ConfigError, InterpolationError, MissingRequiredError, ProblemList
from gantry.yamlio import load_documents

PROJECT = "/srv/proj"


def load(*texts: str, env: dict | None = None, **kwargs) -> ComposeModel:
    files = [SourceFile(f"compose/f{i}.yml", textwrap.dedent(t)) for i, t in enumerate(texts)]
    return load_compose(files, (env or {}).get, project_dir=PROJECT, **kwargs)


def merged_service(base: str, override: str) -> dict:
    return load(base, override).data["services"]["s"]


MERGE_CASES = [
    ("command-replaced",
     "command: [a, b]", "command: c d", "command: [c, d]"),
    ("entrypoint-replaced",
     "entrypoint: /x", "entrypoint: [/y]", "entrypoint: [/y]"),
    ("healthcheck-test-replaced-rest-merged",
     "healthcheck: {test: [CMD, a], interval: 5s}", "healthcheck: {test: b}",
     "healthcheck: {test: [CMD-SHELL, b], interval: 5s}"),
    ("environment-list-and-map-per-key",
     "environment: [A=1, B=2]", "environment: {A: '10', C: '3'}",
     "environment: {A: '10', B: '2', C: '3'}"),
    ("labels-map-and-list-per-key",
     "labels: {a: '1'}", "labels: [a=2, b]", "labels: {a: '2', b: ''}"),
    ("ports-dedupe-after-long-form",
     "ports: ['8080:80']", "ports: [{target: 80, published: '8080'}]",
     "ports: [{mode: ingress, target: 80, published: '8080', protocol: tcp}]"),
    ("ports-appended",
     "ports: ['80']", "ports: ['81']",
     "ports: [{mode: ingress, target: 80, protocol: tcp}, {mode: ingress, target: 81, protocol: tcp}]"),
    ("volumes-keyed-by-target",
     "volumes: ['./a:/data']", "volumes: ['./b:/data:ro']",
     "volumes: [{type: bind, source: /srv/proj/b, target: /data, read_only: true, bind: {create_host_path: true}}]"),
    ("cap-add-unique",
     "cap_add: [NET_ADMIN]", "cap_add: [NET_ADMIN, SYS_TIME]", "cap_add: [NET_ADMIN, SYS_TIME]"),
    ("dns-string-and-list",
     "dns: 1.1.1.1", "dns: [8.8.8.8, 1.1.1.1]", "dns: [1.1.1.1, 8.8.8.8]"),
    ("expose-unique-as-strings",
     "expose: [80]", "expose: ['80', 81]", "expose: ['80', '81']"),
    ("security-opt-appended",
     "security_opt: [a]", "security_opt: [b]", "security_opt: [a, b]"),
    ("extra-hosts-list-and-map",
     "extra_hosts: ['db:10.0.0.1']", "extra_hosts: {api: 10.0.0.2}",
     "extra_hosts: [api=10.0.0.2, db=10.0.0.1]"),
    ("ulimits-entry-replaced",
     "ulimits: {nofile: {soft: 1, hard: 2}, nproc: 5}", "ulimits: {nofile: 3}",
     "ulimits: {nofile: 3, nproc: 5}"),
    ("logging-same-driver-merges",
     "logging: {driver: local, options: {a: '1'}}", "logging: {options: {b: '2'}}",
     "logging: {driver: local, options: {a: '1', b: '2'}}"),
    ("logging-other-driver-replaces",
     "logging: {driver: local, options: {a: '1'}}", "logging: {driver: syslog}",
     "logging: {driver: syslog}"),
    ("mapping-merged-recursively",
     "deploy: {resources: {limits: {memory: 64m}}}", "deploy: {resources: {limits: {cpus: '0.5'}}}",
     "deploy: {resources: {limits: {memory: '67108864', cpus: 0.5}}, placement: {}}"),
    ("scalar-overridden",
     "user: root", "user: '1000'", "user: '1000'"),
    ("reset-removes",
     "environment: {A: '1'}", "environment: !reset {B: '2'}", "environment: null"),
    ("override-replaces",
     "environment: {A: '1'}", "environment: !override {B: '2'}", "environment: {B: '2'}"),
    ("networks-list-and-map",
     "networks: [front]", "networks: {back: {aliases: [x]}}", "networks: {front: null, back: {aliases: [x]}}"),
]


@pytest.mark.parametrize(("base", "override", "want"), [c[1:] for c in MERGE_CASES],
                         ids=[c[0] for c in MERGE_CASES])
def test_merge_rule(base: str, override: str, want: str) -> None:
    header = "services:\n  s:\n    image: busybox\n"
    resources = "networks: {front: {}, back: {}}\n"
    got = merged_service(header + "    " + base + "\n" + resources, "services:\n  s:\n    " + override + "\n")
    expected = yaml.safe_load(want)
    assert {key: got.get(key) for key in expected} == expected


def test_merge_does_not_mutate_inputs() -> None:
    from gantry.compose.merge import merge_mappings
    base = {"services": {"s": {"environment": ["A=1"], "ports": ["80"]}}}
    other = {"services": {"s": {"environment": {"B": "2"}, "ports": ["81"]}}}
    snapshot = json.dumps([base, other])
    merge_mappings(base, other, ())
    assert json.dumps([base, other]) == snapshot


# --- loader -----------------------------------------------------------------------------------


@pytest.mark.parametrize(("text", "want"), [
    ("yes", "yes"), ("on", "on"), ("No", "No"), ("true", True), ("TRUE", True), ("tRUE", "tRUE"),
    ("0o17", 15), ("0777", 511), ("1_000", 1000), ("1:30", "1:30"), ("0x1F", 31), ("0b101", 5),
    ("08", 8.0), ("1e3", 1000.0), (".5", 0.5), ("~", None), ("null", None), ("'yes'", "yes"),
    ("'0o17'", "0o17"), ("+12", 12), ("-0o17", -15), ("1.50", 1.5),
], ids=lambda v: repr(v))
def test_yaml_loader_types_scalars_like_compose(text: str, want: object) -> None:
    assert load_documents(f"v: {text}\n", "f.yml")[0].data == {"v": want}


def test_yaml_loader_keeps_marks_and_tags() -> None:
    doc = load_documents("a:\n  b: !reset [1]\n  c: !override {d: 1}\n  e: 2\n", "f.yml")[0]
    assert doc.data == {"a": {"c": {"d": 1}, "e": 2}}
    assert doc.resets == (("a", "b"),)
    assert doc.overrides == (("a", "c"),)
    assert doc.marks[("a", "e")] == (4, 6)


@pytest.mark.parametrize(("text", "where", "what"), [
    ("services:\n  s: [a\n", "compose/f0.yml:3:1", "invalid YAML"),
    ("a: 1\na: 2\n", "compose/f0.yml:2:1", "mapping key 'a' already defined at line 1"),
    ("services:\n  s:\n    image: x\n  \tbad: 1\n", "compose/f0.yml:4:3", "invalid YAML"),
], ids=["unclosed", "duplicate-key", "tab"])
def test_yaml_error_names_file_line_column(text: str, where: str, what: str) -> None:
    with pytest.raises(ConfigError) as info:
        load(text)
    assert info.value.where == where
    assert what in info.value.what


# --- errors from load_compose ------------------------------------------------------------------


def test_load_collects_several_missing_variables() -> None:
    text = """
    services:
      s:
        image: ${IMAGE:?set IMAGE}
        environment:
          TOKEN: ${TOKEN?set TOKEN}
    """
    with pytest.raises(ProblemList) as info:
        load(text)
    assert [p.where for p in info.value.problems] == [
        "compose/f0.yml: services.s.image (line 4)", "compose/f0.yml: services.s.environment.TOKEN (line 6)"]


def test_load_single_missing_variable_is_typed() -> None:
    with pytest.raises(MissingRequiredError) as info:
        load("services:\n  s:\n    image: ${IMAGE:?set IMAGE}\n")
    assert (info.value.variable, info.value.reason) == ("IMAGE", "set IMAGE")


def test_load_malformed_template_hint() -> None:
    with pytest.raises(InterpolationError) as info:
        load("services:\n  s:\n    image: x\n    command: echo $${A} ${}\n")
    assert "escape a literal $ as $$" in info.value.hint


def test_load_extends_from_other_file_without_a_reader_names_no_internal_parameter() -> None:
    with pytest.raises(ConfigError) as info:
        load("services:\n  s:\n    extends: {file: base.yml, service: b}\n")
    assert "base.yml" in str(info.value)
    assert "read_file" not in str(info.value) and "=" not in str(info.value)


@pytest.mark.parametrize(("text", "what"), [
    ("services:\n  s:\n    image: x\n    volumes: [data:/d]\n", "undefined volume data"),
    ("services:\n  s:\n    environment: [A=1]\n", "neither an image nor a build context"),
    ("services:\n  s:\n    image: x\n    extends: t\n", 'service "t" not found'),
    ("services:\n  s:\n    image: x\n    labels: {d: 2024-01-02}\n", "unquoted date"),
], ids=["undefined-volume", "no-image", "extends-unknown", "timestamp"])
def test_load_rejects_inconsistent_project(text: str, what: str) -> None:
    with pytest.raises(ConfigError) as info:
        load(text)
    assert what in info.value.what


# --- rendering ---------------------------------------------------------------------------------


SECRET_APP = """
services:
  web:
    image: nginx:${TAG:-1}
    environment:
      DB_PASSWORD: ${DB_PASSWORD}
      DSN: postgres://app:${DB_PASSWORD}@db/app
      PRICE: 5$$
      PLAIN: ${PLAIN}
"""


def test_render_writes_kept_secrets_as_references_and_escapes_dollars() -> None:
    env = {"DB_PASSWORD": "pa$$word", "PLAIN": "a$b"}
    model = load(SECRET_APP, env=env, keep=frozenset({"DB_PASSWORD"}))
    rendered = render_yaml(model)
    assert "pa$$word" not in rendered and "pa$$$$word" not in rendered
    environment = yaml.safe_load(rendered)["services"]["web"]["environment"]
    assert environment == {"DB_PASSWORD": "${DB_PASSWORD}", "DSN": "postgres://app:${DB_PASSWORD}@db/app",
                           "PRICE": "5$$", "PLAIN": "a$$b"}
    assert json.loads(render_json(model))["services"]["web"]["environment"] == environment


def test_render_reports_references_with_defaults() -> None:
    model = load(SECRET_APP, env={"DB_PASSWORD": "x"}, keep=frozenset({"DB_PASSWORD"}))
    refs = {(r.name, r.has_default, r.is_set) for r in model.references}
    assert refs == {("TAG", True, False), ("DB_PASSWORD", False, True), ("PLAIN", False, False)}


def test_render_is_byte_stable() -> None:
    texts = ["services:\n  b:\n    image: x\n    labels: {z: '1', a: '2'}\n  a:\n    image: y\n"]
    assert render_yaml(load(*texts)) == render_yaml(load(*texts))
    assert render_yaml(load(*texts)).index("  a:") < render_yaml(load(*texts)).index("  b:")


@pytest.mark.parametrize("value", ["yes", "on", "0o17", "1_000", "1:30", "0012", "true", "null", "2024-01-02",
                                   "1e3", "08"])
def test_render_quotes_strings_that_would_load_as_other_types(value: str) -> None:
    model = load(f"services:\n  s:\n    image: x\n    environment:\n      V: '{value}'\n")
    rendered = render_yaml(model)
    assert load_documents(rendered, "out.yml")[0].data["services"]["s"]["environment"]["V"] == value
    assert yaml.safe_load(rendered)["services"]["s"]["environment"]["V"] == value


def test_render_no_interpolate_keeps_templates_verbatim() -> None:
    model = load("services:\n  s:\n    image: x:${TAG}\n    command: echo $$HOME\n", interpolate=False)
    data = json.loads(render_json(model))
    assert data["services"]["s"]["image"] == "x:${TAG}"
    assert data["services"]["s"]["command"] == "echo $$HOME"


@pytest.mark.parametrize(("value", "want"), [
    (1000.0, "1000"), (0.5, "0.5"), (1e20, "1e+20"), (123456789.123, "1.23456789123e+08"),
    (1e-7, "1e-07"), (1e6, "1e+06"), (999999.0, "999999"), (float("inf"), "+Inf"),
])
def test_go_float_matches_go_fmt(value: float, want: str) -> None:
    assert go_float(value) == want


def test_load_extends_other_file_through_read_file() -> None:
    files = {"/srv/proj/base/common.yml": "services:\n  b:\n    image: base\n    volumes: [./data:/data]\n"}
    model = load("services:\n  s:\n    extends: {file: base/common.yml, service: b}\n    user: '1'\n",
                 read_file=lambda path: files[path])
    service = model.data["services"]["s"]
    assert (service["image"], service["user"]) == ("base", "1")
    assert service["volumes"][0]["source"] == "/srv/proj/base/data"


def test_load_extends_unreadable_file_is_a_config_error() -> None:
    def missing(path: str) -> str:
        raise FileNotFoundError(2, "No such file or directory", path)
    with pytest.raises(ConfigError) as info:
        load("services:\n  s:\n    extends: {file: nope.yml, service: b}\n", read_file=missing)
    assert "cannot read /srv/proj/nope.yml" in info.value.what
