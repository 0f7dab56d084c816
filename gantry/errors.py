"""One error hierarchy: every user-facing failure says where, what, and what to do.

Exit codes (documented in the README):
  0  success
  1  invalid input: config, compose files, secrets, policy errors
  2  usage error: unknown task, flag or environment, a missing or bad flag value or choice
  3  deploy failed (a host was rolled back, or is unhealthy)
  4  a host could not be reached or refused our key check
  5  the deploy lock is held by someone else
  6  `inv plan` only: a deploy would change something
  130 interrupted (Ctrl-C); hosts were returned to their previous release
"""

from __future__ import annotations

from dataclasses import dataclass, field

EXIT_OK = 0
EXIT_INVALID = 1
EXIT_USAGE = 2
EXIT_DEPLOY_FAILED = 3
EXIT_UNREACHABLE = 4
EXIT_LOCKED = 5
EXIT_INTERRUPTED = 130


@dataclass(frozen=True)
class Problem:
    """One thing wrong, located: `where: what (hint)`."""

    where: str
    what: str
    hint: str = ""

    def __str__(self) -> str:
        text = f"{self.where}: {self.what}" if self.where else self.what
        return f"{text}\n  hint: {self.hint}" if self.hint else text


class GantryError(Exception):
    """Base of every error shown to a user; never carries a secret value."""

    exit_code = EXIT_INVALID

    def __init__(self, where: str, what: str, hint: str = "") -> None:
        self.problem = Problem(where, what, hint)
        super().__init__(str(self.problem))

    @property
    def where(self) -> str:
        return self.problem.where

    @property
    def what(self) -> str:
        return self.problem.what

    @property
    def hint(self) -> str:
        return self.problem.hint


class UsageError(GantryError):
    exit_code = EXIT_USAGE


class ConfigError(GantryError):
    """A bad environments/<env>.yml, compose file or secrets file."""


@dataclass
class ProblemList(Exception):
    """Several problems reported at once (validation collects them all)."""

    problems: list[Problem] = field(default_factory=list)
    exit_code: int = EXIT_INVALID

    def __str__(self) -> str:
        return "\n".join(str(p) for p in self.problems)


class InterpolationError(ConfigError):
    """A malformed ${...} template or a ${VAR:?msg} whose variable is unset."""


class MissingRequiredError(InterpolationError):
    def __init__(self, where: str, variable: str, reason: str) -> None:
        self.variable = variable
        self.reason = reason
        super().__init__(
            where,
            f"required variable {variable} is missing a value: {reason}" if reason
            else f"required variable {variable} is missing a value",
            f"set {variable} in the environment's variables, the secrets file, or the process environment",
        )


class HostError(GantryError):
    """A step failed on one host."""

    exit_code = EXIT_DEPLOY_FAILED

    def __init__(self, host: str, step: str, what: str, hint: str = "") -> None:
        self.host = host
        self.step = step
        super().__init__(f"{host} [{step}]", what, hint)


class HostErrors(GantryError):
    """Several hosts failed before any change: every message, and the exit code of the first (by its type)."""

    def __init__(self, errors: list[GantryError]) -> None:
        self.errors = tuple(errors)
        first = errors[0]
        text = "\n".join(str(e) for e in errors)
        if isinstance(first, HostError):  # each line names its host and step already
            super().__init__("", text)
        else:
            super().__init__(first.where, f"{len(errors)} hosts failed before any change:\n{text}", first.hint)

    @property
    def exit_code(self) -> int:  # type: ignore[override]
        return self.errors[0].exit_code


class UnreachableError(HostError):
    exit_code = EXIT_UNREACHABLE


class HostKeyError(HostError):
    exit_code = EXIT_UNREACHABLE


class LockHeldError(HostError):
    exit_code = EXIT_LOCKED


class PreflightError(HostError):
    """A host's engine fails a preflight check (confinement, versions, disk): nothing was changed."""

    exit_code = EXIT_INVALID


class DeployFailed(GantryError):
    exit_code = EXIT_DEPLOY_FAILED


class Interrupted(GantryError):
    exit_code = EXIT_INTERRUPTED
