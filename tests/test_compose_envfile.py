"""env_file / label_file inlining and Compose's dotenv parser (values checked against Compose v2.40.3)."""

from __future__ import annotations

import pytest

from gantry.compose import SourceFile, load_compose, render_yaml
from gantry.compose.dotenv import DotenvError, parse_dotenv
from gantry.errors import ConfigError

PROJECT = "/srv/proj"


@pytest.mark.parametrize(("text", "env", "want"), [
    ("A=1\nB=${A}x\n", {}, {"A": "1", "B": "1x"}),
    ("A=1\nB=${A}x\n", {"A": "os"}, {"A": "1", "B": "osx"}),  # the lookup wins over the file's own keys
    ("export EXP=exported\n", {}, {"EXP": "exported"}),
    ('C="q\\nz\\t\\$A \\\\ \\"in\\" \\0101 \\012"\n', {}, {"C": 'q\nz\t$A \\ "in" A \\12'}),
    ("D='$A \\n'\n", {"A": "x"}, {"D": "$A \\n"}),
    ("E=e #cmt\nE2=e#not\n", {}, {"E": "e", "E2": "e#not"}),
    ("F\n", {"F": "3"}, {"F": "3"}),
    ("F\n", {}, {}),
    ("G: yaml style\nH = spaced  \n", {}, {"G": "yaml style", "H": "spaced"}),
    ('I="multi\nline"\n', {}, {"I": "multi\nline"}),
    ("J='single' K=after\n", {}, {"J": "single", "K": "after"}),
    ("L=${UNSET:-def}\nM=${L:+alt}\nN=$$dollar\nO=\nP=\"\"\n", {}, {"L": "def", "M": "alt", "N": "$dollar",
                                                                  "O": "", "P": ""}),
    ("S=a\\nb\nT.dot-x[1]=ok\n", {}, {"S": "a\\nb", "T.dot-x[1]": "ok"}),
    ("\ufeff# c\n\n  X=1\nLAST", {}, {"X": "1", "": "LAST"}),  # a last bare line without newline: key ""
], ids=["template-own-key", "template-lookup-first", "export", "double-quote-escapes", "single-quote-literal",
        "inline-comment-needs-space", "inherited", "inherited-unset-dropped", "yaml-style-and-spaces",
        "multiline-quoted", "after-closing-quote", "operators-and-empty", "unquoted-backslash-and-dots",
        "bom-and-bare-last-line"])
def test_parse_dotenv_follows_compose(text: str, env: dict, want: dict) -> None:
    assert parse_dotenv(text, env.get) == want


@pytest.mark.parametrize(("text", "line"), [
    ("A=1\nB C=2\n", 2), ('A="open\n', 2), ("A=1\nB$=2\n", 2), ("A=${B:?need B}\n", 1), ("A=${\n", 1),
], ids=["space-in-key", "unterminated-quote", "bad-character", "required-missing", "bad-template"])
def test_parse_dotenv_rejects_with_line(text: str, line: int) -> None:
    with pytest.raises(DotenvError) as info:
        parse_dotenv(text)
    assert info.value.line == line


def load(text: str, files: dict[str, str], env: dict | None = None, keep: frozenset[str] = frozenset()):
    def read(path: str) -> str:
        if path not in files:
            raise FileNotFoundError(path)
        return files[path]
    return load_compose([SourceFile("compose.yml", text)], (env or {}).get, project_dir=PROJECT, keep=keep,
                        read_file=read)


def test_env_files_in_order_then_environment_wins() -> None:
    model = load("services:\n  s:\n    image: x\n    env_file: [a.env, {path: b.env, required: false},"
                 " {path: c.env, required: false}]\n    environment: {OWN: o, B: fromenv, UNSET_HERE: null}\n",
                 {f"{PROJECT}/a.env": "A=1\nB=2\nC=${OWN}-${A}\nUNSET_HERE=x\n", f"{PROJECT}/b.env": "A=3\n"})
    assert model.data["services"]["s"]["environment"] == {"A": "3", "B": "fromenv", "C": "o-1", "OWN": "o",
                                                          "UNSET_HERE": None}
    assert "env_file" not in model.data["services"]["s"]


def test_env_file_missing_required_is_an_error_with_the_file() -> None:
    with pytest.raises(ConfigError) as info:
        load("services:\n  s:\n    image: x\n    env_file: ${EF:-app.env}\n", {})
    assert info.value.where == "services.s.env_file[0]" and "app.env not found" in info.value.what


def test_env_file_syntax_error_names_file_and_line() -> None:
    with pytest.raises(ConfigError) as info:
        load("services:\n  s:\n    image: x\n    env_file: app.env\n", {f"{PROJECT}/app.env": "A=1\nB C=2\n"})
    assert info.value.where == "app.env:2"


def test_env_file_secret_keys_stay_references_and_values_go_apart() -> None:
    model = load("services:\n  s:\n    image: x\n    env_file: app.env\n",
                 {f"{PROJECT}/app.env": "DB_PASSWORD='pa$$ w0rd'\nURL=pg://u:${API_TOKEN}@db\nPLAIN=1\n"},
                 env={"API_TOKEN": "t0k"}, keep=frozenset({"DB_PASSWORD", "API_TOKEN"}))
    text = render_yaml(model)
    assert "DB_PASSWORD: ${DB_PASSWORD}" in text and "URL: pg://u:${API_TOKEN}@db" in text
    assert "pa$$" not in text and "t0k" not in text and "w0rd" not in repr(model)
    assert model.env_file_secrets == {"DB_PASSWORD": "pa$$ w0rd"}


def test_env_file_secret_with_another_value_elsewhere_is_refused_without_the_value() -> None:
    with pytest.raises(ConfigError) as info:
        load("services:\n  s:\n    image: x\n    env_file: app.env\n", {f"{PROJECT}/app.env": "DB_PASSWORD=v4lue1\n"},
             env={"DB_PASSWORD": "v4lue2"}, keep=frozenset({"DB_PASSWORD"}))
    assert "DB_PASSWORD" in str(info.value) and "v4lue" not in str(info.value)


def test_label_file_inlined_and_labels_win() -> None:
    model = load("services:\n  s:\n    image: x\n    label_file: l.env\n    labels: [b=own]\n",
                 {f"{PROJECT}/l.env": "a=1\nb=2\nc=${a}\n"})
    assert model.data["services"]["s"]["labels"] == {"a": "1", "b": "own", "c": "1"}
