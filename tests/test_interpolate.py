"""Interpolation: template tables (like compose-go template_test.go), casts, references, kept secrets."""

from __future__ import annotations

import pytest

from gantry.compose.interpolate import (
    InvalidTemplate,
    MissingRequired,
    interpolate_tree,
    sentinel,
    substitute,
)
from gantry.errors import InterpolationError, MissingRequiredError

ENV = {"FOO": "first", "BAR": "", "NUM": "42", "NESTED": "FOO"}


def mapping(name: str, _kind: str) -> str | None:
    return ENV.get(name)


@pytest.mark.parametrize(("template", "want"), [
    ("$FOO", "first"),
    ("${FOO}", "first"),
    ("x${FOO}y", "xfirsty"),
    ("$FOO-bar", "first-bar"),
    ("${FOO}${NUM}", "first42"),
    ("$$FOO", "$FOO"),
    ("$${FOO}", "${FOO}"),
    ("$$$FOO", "$first"),
    ("a $ b", "a $ b"),
    ("$1 and $-", "$1 and $-"),
    ("${UNSET}", ""),
    ("$UNSET", ""),
    ("${UNSET:-default}", "default"),
    ("${UNSET-default}", "default"),
    ("${BAR:-default}", "default"),
    ("${BAR-default}", ""),
    ("${FOO:-default}", "first"),
    ("${FOO:+replacement}", "replacement"),
    ("${BAR:+replacement}", ""),
    ("${BAR+replacement}", "replacement"),
    ("${UNSET+replacement}", ""),
    ("${UNSET:-${FOO}}", "first"),
    ("${UNSET:-${ALSO_UNSET:-deep}}", "deep"),
    ("${UNSET:-a${FOO}b}c", "afirstbc"),
    ("${FOO:+[${NUM}]}", "[42]"),
    ("${UNSET:-default with spaces}", "default with spaces"),
    ("${UNSET:-:-}", ":-"),
    ("${FOO:-x}}", "first}"),
    ("${FOO?must}", "first"),
    ("${BAR?must}", ""),
    ("${foo_lower:-x}", "x"),
], ids=lambda v: v if isinstance(v, str) else None)
def test_substitute_template(template: str, want: str) -> None:
    assert substitute(template, mapping) == want


@pytest.mark.parametrize("template", ["${}", "${ FOO}", "${FOO BAR}", "${FOO", "x${9}", "${FOO:?}}${"],
                         ids=["empty", "leading-space", "space", "unclosed", "digit-name", "trailing-open"])
def test_substitute_rejects_malformed_template(template: str) -> None:
    with pytest.raises(InvalidTemplate):
        substitute(template, mapping)


@pytest.mark.parametrize(("template", "variable", "reason"), [
    ("${UNSET?is required}", "UNSET", "is required"),
    ("${UNSET:?}", "UNSET", ""),
    ("${BAR:?must not be empty}", "BAR", "must not be empty"),
    ("${UNSET:?need ${FOO}}", "UNSET", "need first"),
], ids=["unset", "no-message", "empty", "message-interpolated"])
def test_substitute_missing_required(template: str, variable: str, reason: str) -> None:
    with pytest.raises(MissingRequired) as info:
        substitute(template, mapping)
    assert (info.value.variable, info.value.reason) == (variable, reason)


def run(data: object, env: dict | None = None, keep: frozenset[str] = frozenset()):
    return interpolate_tree(data, (env if env is not None else ENV).get, filename="compose/x.yml", keep=keep)


@pytest.mark.parametrize(("path_value", "want"), [
    ({"privileged": "${T:-true}"}, {"privileged": True}),
    ({"read_only": "yes"}, {"read_only": True}),
    ({"read_only": "${NOPE:-off}"}, {"read_only": False}),
    ({"cpus": "${C:-0.5}"}, {"cpus": 0.5}),
    ({"pids_limit": "${P:-100}"}, {"pids_limit": 100}),
    ({"environment": {"Z": "${Z:-0012}"}}, {"environment": {"Z": "0012"}}),
    ({"ports": [{"target": "${T:-80}"}]}, {"ports": [{"target": 80}]}),
    ({"ports": ["${T:-80}:80"]}, {"ports": ["80:80"]}),
    ({"healthcheck": {"retries": "3"}}, {"healthcheck": {"retries": 3}}),
    ({"ulimits": {"nofile": "1024", "nproc": {"soft": "1"}}}, {"ulimits": {"nofile": 1024, "nproc": {"soft": 1}}}),
    ({"mem_limit": "${M:-1g}"}, {"mem_limit": "1g"}),
], ids=["bool-default", "bool-yes", "bool-off", "float", "int", "env-string", "port-target",
        "short-port-string", "retries", "ulimits", "bytes-stay-string"])
def test_interpolate_tree_casts_by_schema(path_value: dict, want: dict) -> None:
    result = run({"services": {"web": path_value}}, env={})
    assert result.errors == []
    assert result.data == {"services": {"web": want}}


def test_interpolate_tree_leaves_keys_alone() -> None:
    result = run({"services": {"web": {"labels": {"${FOO}": "${FOO}"}}}})
    assert result.data == {"services": {"web": {"labels": {"${FOO}": "first"}}}}


def test_interpolate_tree_collects_every_problem_with_its_path() -> None:
    data = {"services": {"web": {"environment": {"A": "${X?x please}", "B": "${}", "C": "${Y:?}"},
                                 "privileged": "maybe"}}}
    result = run(data, env={})
    kinds = [(type(e), e.where) for e in result.errors]
    assert kinds == [
        (MissingRequiredError, "compose/x.yml: services.web.environment.A"),
        (InterpolationError, "compose/x.yml: services.web.environment.B"),
        (MissingRequiredError, "compose/x.yml: services.web.environment.C"),
        (InterpolationError, "compose/x.yml: services.web.privileged"),
    ]
    assert "$$" in result.errors[1].hint
    assert "invalid boolean: maybe" in result.errors[3].what


def test_interpolate_tree_error_where_has_line_when_marks_given() -> None:
    result = interpolate_tree({"image": "${}"}, {}.get, filename="f.yml", marks={("image",): (3, 8)})
    assert result.errors[0].where == "f.yml: image (line 3)"


def test_interpolate_tree_reports_references() -> None:
    data = {"services": {"web": {"image": "${REG:-r}/app:${TAG}", "environment": {"A": "${FOO:+x}"}}}}
    refs = run(data).references
    assert [(r.name, r.where, r.has_default, r.is_set) for r in refs] == [
        ("REG", "compose/x.yml: services.web.image", True, False),
        ("TAG", "compose/x.yml: services.web.image", False, False),
        ("FOO", "compose/x.yml: services.web.environment.A", True, True),
    ]


def test_interpolate_tree_warns_only_for_unset_without_default() -> None:
    result = run({"a": "${UNSET}", "b": "${UNSET:-x}", "c": "$ALSO"})
    assert result.warnings == [
        'The "UNSET" variable is not set. Defaulting to a blank string.',
        'The "ALSO" variable is not set. Defaulting to a blank string.',
    ]


@pytest.mark.parametrize(("template", "env", "want"), [
    ("${SECRET}", {"SECRET": "s3cr$t"}, sentinel("SECRET")),
    ("pre-${SECRET}-post", {"SECRET": "v"}, f"pre-{sentinel('SECRET')}-post"),
    ("${SECRET:-fallback}", {"SECRET": "v"}, sentinel("SECRET")),
    ("${SECRET:-fallback}", {"SECRET": ""}, "fallback"),
    ("${SECRET:-fallback}", {}, "fallback"),
    ("${SECRET:+on}", {"SECRET": "v"}, "on"),
], ids=["plain", "embedded", "default-unused", "empty-uses-default", "unset-uses-default", "replacement"])
def test_interpolate_tree_keeps_secret_references(template: str, env: dict, want: str) -> None:
    result = run({"environment": {"K": template}}, env=env, keep=frozenset({"SECRET"}))
    assert result.data == {"environment": {"K": want}}
    assert "s3cr$t" not in repr(result.data)


def test_interpolate_tree_refuses_kept_secret_in_typed_field() -> None:
    result = run({"services": {"web": {"privileged": "${SECRET}"}}}, env={"SECRET": "true"},
                 keep=frozenset({"SECRET"}))
    assert "SECRET is used in a typed field" in result.errors[0].what
