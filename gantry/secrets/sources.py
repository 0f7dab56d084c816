"""Where the secrets' dotenv text comes from: `secrets.command`, an age-encrypted file, or the plain file.

In that order: a `secrets.command` (run with `sh -c` in the project root; its stdout is dotenv, e.g.
`op inject -i secrets.tpl`, `pass show app/prod`), else `secrets.<env>.env.age` decrypted with the `age`
CLI and an identity file (so encrypted secrets can be committed), else `secrets.<env>.env` (0600). The
decrypted text is held in memory only. A failing source is a Problem with its exit code and its stderr,
every value it printed on stdout masked.
"""

from __future__ import annotations

import os
import shutil
import subprocess
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path

from gantry.errors import ConfigError, Problem
from gantry.output import make_redactor
from gantry.secrets import file_mode_problem, parse_env_text
from gantry.yamlio import read_text

AGE_SUFFIX = ".age"
IDENTITY_ENV = "GANTRY_AGE_IDENTITY"
STDERR_LINES = 8


@dataclass(frozen=True)
class SecretText:
    """Dotenv text (None: no source) and the name to show for its values."""

    text: str | None
    name: str
    problems: list[Problem] = field(default_factory=list)


def _masked_tail(stderr: str, stdout: str) -> str:
    values = [v for v in parse_env_text(stdout).values() if v]
    tail = make_redactor(values)(stderr.strip()).splitlines()[-STDERR_LINES:]
    return "".join(f"\n    {line}" for line in tail)


def _run(argv: list[str], *, cwd: str, environ: Mapping[str, str], timeout: float):
    try:
        return subprocess.run(argv, cwd=cwd, env=dict(environ), capture_output=True, text=True, timeout=timeout)
    except subprocess.TimeoutExpired:
        return None


def from_command(env, environ: Mapping[str, str]) -> SecretText:
    where = f"{env.source}: secrets.command"
    proc = _run(["sh", "-c", env.secrets.command], cwd=env.root, timeout=env.secrets.timeout,
                environ={**environ, "GANTRY_ENV": env.name, "GANTRY_PROJECT": env.project})
    if proc is None:
        return SecretText(None, "secrets.command", [Problem(where, f"did not finish within {env.secrets.timeout:.0f} s",
                                                            "check the command, or raise secrets.timeout")])
    if proc.returncode != 0:
        return SecretText(None, "secrets.command", [Problem(
            where, f"failed with exit code {proc.returncode}{_masked_tail(proc.stderr, proc.stdout)}",
            "run the command by hand (logged in to the secret store?); its stdout must be NAME=value lines")])
    return SecretText(proc.stdout, "secrets.command")


def identity_file(env, environ: Mapping[str, str]) -> str:
    path = env.secrets.age_identity or environ.get(IDENTITY_ENV, "")
    return str(Path(env.root) / os.path.expanduser(path)) if path else ""


def from_age(env, environ: Mapping[str, str], encrypted: Path) -> SecretText:
    name = env.secrets_file + AGE_SUFFIX
    identity = identity_file(env, environ)
    if not identity:
        return SecretText(None, name, [Problem(name, "no age identity to decrypt it with",
                                               f"set secrets.age_identity in {env.source} or {IDENTITY_ENV}")])
    if not os.path.isfile(identity):
        return SecretText(None, name, [Problem(f"{env.source}: secrets.age_identity",
                                               f"{identity} does not exist", "give the path of your age key file")])
    bad = file_mode_problem(identity, os.stat(identity).st_mode)
    if bad:
        return SecretText(None, name, [bad])
    age = shutil.which("age")
    if age is None:
        return SecretText(None, name, [Problem(name, "the age CLI is not installed", "apt-get install age")])
    proc = _run([age, "--decrypt", "--identity", identity, str(encrypted)], cwd=env.root, environ=environ,
                timeout=env.secrets.timeout)
    if proc is None or proc.returncode != 0:
        what = "age did not finish" if proc is None else \
            f"age --decrypt failed with exit code {proc.returncode}{_masked_tail(proc.stderr, proc.stdout)}"
        return SecretText(None, name, [Problem(name, what, "is the file encrypted to this identity's recipient?")])
    return SecretText(proc.stdout, name)


def read_secret_text(env, environ: Mapping[str, str]) -> SecretText:
    """The secrets' dotenv text from the environment's one source (see the module docstring)."""
    root = Path(env.root)
    if env.secrets.command:
        return from_command(env, environ)
    plain, encrypted = root / env.secrets_file, root / (env.secrets_file + AGE_SUFFIX)
    if encrypted.is_file():
        if plain.exists():
            return SecretText(None, env.secrets_file, [Problem(
                env.secrets_file, f"both {env.secrets_file} and {env.secrets_file}{AGE_SUFFIX} exist",
                "keep one: delete the plain file once its values are in the encrypted one")])
        return from_age(env, environ, encrypted)
    if not os.path.lexists(plain):
        return SecretText(None, env.secrets_file)
    try:  # a directory, a FIFO, a dangling link or bytes that are not text say so (issue 12)
        text = read_text(plain, env.secrets_file)
    except ConfigError as exc:
        return SecretText(None, env.secrets_file, [exc.problem])
    bad = file_mode_problem(env.secrets_file, plain.stat().st_mode)
    return SecretText(None if bad else text, env.secrets_file, [bad] if bad else [])
