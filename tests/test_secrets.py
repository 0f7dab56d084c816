import subprocess

import pytest

from gantry.secrets import Secrets, file_mode_problem, load_secrets, render_env_file

EXAMPLE = "DB_PASSWORD=change-me\nAPI_TOKEN=change-me\nEMPTY_OK=\n"


def test_secrets_environment_wins_over_file():
    s, problems = load_secrets(EXAMPLE, "DB_PASSWORD=from-file\nAPI_TOKEN=token-one\nEMPTY_OK=x-long-enough\n",
                               "secrets.prod.env", {"DB_PASSWORD": "from-env"})
    assert problems == []
    assert s.values["DB_PASSWORD"] == "from-env" and s.sources["DB_PASSWORD"] == "environment"
    assert s.sources["API_TOKEN"] == "secrets.prod.env"


def test_secrets_reports_missing_empty_and_placeholder_all_at_once():
    _, problems = load_secrets(EXAMPLE, "DB_PASSWORD=change-me\nEMPTY_OK=\n", "secrets.prod.env", {})
    text = [str(p) for p in problems]
    assert any("DB_PASSWORD: secret still has the placeholder" in t for t in text)
    assert any("API_TOKEN: secret has no value" in t for t in text)
    assert any("EMPTY_OK: secret is empty" in t for t in text)


def test_secrets_repr_and_errors_never_show_values():
    text = "DB_PASSWORD=canary-123\nAPI_TOKEN=canary-456\nEMPTY_OK=x-long-enough\n"
    s, problems = load_secrets(EXAMPLE, text, "f", {})
    assert "canary" not in repr(s) and "canary" not in str(s)
    assert all("canary" not in str(p) for p in problems)
    key = b"k" * 32
    assert s.fingerprint("DB_PASSWORD", key) != s.fingerprint("API_TOKEN", key)
    assert "canary" not in s.fingerprint("DB_PASSWORD", key)


@pytest.mark.parametrize("mode, bad", [(0o600, False), (0o400, False), (0o640, True), (0o644, True), (0o606, True)],
                         ids=["0600", "0400", "0640", "0644", "0606"])
def test_secrets_file_mode(mode, bad):
    assert (file_mode_problem("secrets.prod.env", 0o100000 | mode) is not None) == bad


# Issue 12, class 3: every kind of character, as the real binary reads the bundle's .env.
ROUND_TRIP = {
    "TRAILING_BACKSLASH": "abc\\", "SINGLE": "it's", "DOUBLE": 'say "hi"', "DOLLAR": "a$b${HOME}$$c$",
    "HASH": "a # b #c", "NEWLINES": "l1\nl2\n", "CR_TAB": "a\rb\tc", "LEADING": "  lead", "TRAILING": "trail  ",
    "UNICODE": "pässwörd-✓-😀", "BIG": "x" * 100_000, "ESCAPES": "\\n\\t\\\\\\'\\\"", "EQUALS": "a=b==",
    "BACKSLASH_QUOTE": "\\'", "CONTROL": "\x01\x1f\x7f", "SEPARATORS": "\u2028\u2029\x0b\x0c",
    "INTERP": "${X:-default}", "QUOTED": "'already'",
}


def _compose_available():
    try:
        return subprocess.run(["docker", "compose", "version"], capture_output=True).returncode == 0
    except OSError:
        return False


@pytest.mark.compose
@pytest.mark.skipif(not _compose_available(), reason="docker compose v2 not installed")
def test_secrets_env_file_round_trips_through_compose(tmp_path):
    """The real binary reads back exactly the values we wrote (the oracle for .env quoting)."""
    import json

    (tmp_path / ".env").write_text(render_env_file(ROUND_TRIP))
    env = "\n".join(f"      {k}: ${{{k}}}" for k in ROUND_TRIP)
    (tmp_path / "c.yml").write_text(f"services:\n  a:\n    image: x\n    environment:\n{env}\n")
    out = subprocess.run(["docker", "compose", "-f", "c.yml", "--env-file", ".env", "config", "--format", "json"],
                         cwd=tmp_path, capture_output=True, text=True, check=True, env={"PATH": "/usr/bin:/bin"})
    got = json.loads(out.stdout)["services"]["a"]["environment"]
    assert {k: v.replace("$$", "$") for k, v in got.items()} == ROUND_TRIP


def test_secrets_dataclass_holds_no_value_in_repr():
    assert "zzz" not in repr(Secrets({"A": "zzz"}, {"A": "x"}))


def test_secrets_redactor_masks_values_longest_first():
    from gantry.output import make_redactor

    redact = make_redactor(["hunter2", "hunter2-long", "x"])
    assert redact("a hunter2-long b hunter2 x") == "a *** b *** x"
