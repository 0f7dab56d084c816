"""Webhooks: one JSON document per deploy or rollback outcome, POSTed to each `notify:` URL (a secret).

The URL is a secret (a Slack or Teams hook carries its token in the path): it is read from the secrets
by name and never shown; errors name the secret, not the URL. Every string in the document is masked
before it is serialised. Connection failures, 429 and 5xx answers are retried with tenacity; a webhook
that still fails is a warning, never a failed deploy.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Mapping, Sequence

from gantry.errors import Problem

EVENTS = ("deploy", "rollback")
RETRY_STATUS = frozenset({408, 425, 429, 500, 502, 503, 504})
HOST_KEYS = ("host", "outcome", "release", "previous", "error", "failing_service", "seconds")


class Retryable(Exception):
    """A failure worth another attempt (no connection, timeout, 429, 5xx)."""


def make_document(result: Mapping, *, environment: str, project: str, who: str, started: str, ended: str,
                  seconds: float, redact: Callable[[str], str]) -> dict:
    """The webhook body: environment, release, outcome, exit code, hosts and outcomes, who, duration."""
    doc = {
        "event": result.get("action", ""), "environment": environment, "project": project,
        "release": result.get("release", ""), "outcome": result.get("outcome", ""),
        "exit_code": result.get("exit_code", 0), "who": who, "started": started, "ended": ended,
        "duration_seconds": round(seconds, 2), "error": result.get("error", ""),
        "hosts": [{k: h.get(k, "") for k in HOST_KEYS} for h in result.get("hosts", ())],
    }
    return _masked(doc, redact)


def _masked(value, redact: Callable[[str], str]):
    if isinstance(value, str):
        return redact(value)
    if isinstance(value, list):
        return [_masked(v, redact) for v in value]
    if isinstance(value, dict):
        return {k: _masked(v, redact) for k, v in value.items()}
    return value


def post_json(url: str, doc: Mapping, *, timeout: float, attempts: int, wait: float = 0.5) -> None:
    """POST doc as JSON; retry what may pass on another attempt; raise Retryable or ValueError when it fails."""
    import urllib.error  # with tenacity, loaded only when a hook is called (not with every task)
    import urllib.request

    import tenacity

    body = json.dumps(doc, sort_keys=True).encode()

    def once() -> None:
        req = urllib.request.Request(url, data=body, method="POST",
                                     headers={"Content-Type": "application/json", "User-Agent": "gantry"})
        try:
            with urllib.request.urlopen(req, timeout=timeout) as resp:  # noqa: S310 - the user's own URL
                resp.read()
        except urllib.error.HTTPError as exc:
            if exc.code in RETRY_STATUS:
                raise Retryable(f"answered HTTP {exc.code}") from None
            raise ValueError(f"answered HTTP {exc.code}") from None
        except (urllib.error.URLError, TimeoutError, ConnectionError) as exc:
            reason = getattr(exc, "reason", None) or exc
            raise Retryable(f"could not be reached ({reason})") from None

    tenacity.Retrying(retry=tenacity.retry_if_exception_type(Retryable), stop=tenacity.stop_after_attempt(attempts),
                      wait=tenacity.wait_exponential(multiplier=wait, max=5), reraise=True)(once)


def send_all(hooks: Sequence, event: str, doc: Mapping, secrets: Mapping[str, str], *,
             warn: Callable[[str], None], redact: Callable[[str], str]) -> int:
    """Send doc to every hook subscribed to event; returns how many were delivered. Failures are warnings."""
    delivered = 0
    for hook in hooks:
        if event not in hook.events:
            continue
        url = secrets.get(hook.url_secret, "")
        if not url:
            warn(f"warning: notify: secret {hook.url_secret} has no value; webhook not sent")
            continue
        try:
            post_json(url, doc, timeout=hook.timeout, attempts=max(1, hook.retries))
            delivered += 1
        except (Retryable, ValueError) as exc:
            warn(redact(f"warning: notify: the webhook in {hook.url_secret} {exc}; "
                        f"gave up after {max(1, hook.retries)} attempt(s)"))
    return delivered


def notify_problems(env, declared: frozenset[str]) -> list[Problem]:
    """Hooks naming a secret that secrets.example.env does not declare, or an unknown event."""
    out = []
    for i, hook in enumerate(env.notify):
        if hook.url_secret not in declared:
            out.append(Problem(f"{env.source}: notify[{i}].url_secret", f"{hook.url_secret} is not a secret in "
                               "secrets.example.env", f"add {hook.url_secret}=https://... to secrets.example.env "
                               "and its real value to the secrets file or the job's environment"))
        for event in hook.events:
            if event not in EVENTS:
                out.append(Problem(f"{env.source}: notify[{i}].events", f"unknown event '{event}'",
                                   f"use {' or '.join(EVENTS)}"))
    return out
