"""What a host session uses besides commands and facts: the `up` failure, the registry retry, the release tar,
and who holds a lock."""

from __future__ import annotations

import datetime
import io
import tarfile
import threading
from collections.abc import Callable
from typing import TYPE_CHECKING

import tenacity

from gantry.engines.hosts.facts import LockInfo
from gantry.errors import HostError
from gantry.release import Release

if TYPE_CHECKING:  # Fabric and paramiko load with the first connection, not with this module
    from gantry.remote.executor import Result


class UpFailed(HostError):
    """`docker compose up` failed because a service failed: which one, and its diagnostics."""

    def __init__(self, host: str, step: str, what: str, service: str, diagnostics: str, detail: str) -> None:
        super().__init__(host, step, what, "see the service's last log lines above; fix it and deploy again")
        self.service = service
        self.diagnostics = diagnostics
        self.detail = detail


TRANSIENT_PULL = ("timeout", "connection refused", "connection reset", "tls handshake", "i/o timeout", " 502 ",
                  " 503 ", " 504 ", "toomanyrequests", "unexpected eof", "no route to host", "temporary failure")


def retry_transient(fn: Callable[[], Result], cancel: threading.Event) -> Result:
    """Retry a registry operation on transient errors only (3 tries, backing off); a real failure returns at once."""

    def transient(result: Result) -> bool:
        text = (result.stdout + result.stderr).lower()
        return not result.ok and any(word in text for word in TRANSIENT_PULL) and not cancel.is_set()

    return tenacity.Retrying(retry=tenacity.retry_if_result(transient), stop=tenacity.stop_after_attempt(3),
                             wait=tenacity.wait_exponential(multiplier=0.5, max=4),
                             retry_error_callback=lambda state: state.outcome.result())(fn)


def bundle_tar(release: Release) -> bytes:
    """The release files as an uncompressed tar, modes kept (.env is 0600), fixed mtimes."""
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w", format=tarfile.PAX_FORMAT) as tar:
        for name, (data, mode) in sorted(release.files().items()):
            info = tarfile.TarInfo(name)
            info.size = len(data)
            info.mode = mode
            info.mtime = 0
            tar.addfile(info, io.BytesIO(data))
    return buf.getvalue()


def lock_holder(info: LockInfo | None, now: datetime.datetime | None = None) -> str:
    """Who holds a lock, since when (with `now`: how long ago) and for which release."""
    if info is None:
        return "unknown holder (the lock has no details)"
    if info.holder:
        age = f" ({_age(info.since, now)} ago)" if now is not None and _age(info.since, now) else ""
        return f"{info.holder} since {info.since or '?'}{age} for release {info.release or '?'}"
    return f"unreadable lock details: {info.raw!r}"


def _age(since: str, now: datetime.datetime) -> str:
    """'42 s', '7 min', '3 h', '2 d' from an ISO time to now ('' when the time is unreadable)."""
    try:
        then = datetime.datetime.fromisoformat(since)
    except (TypeError, ValueError):
        return ""
    if then.tzinfo is None:
        then = then.replace(tzinfo=datetime.timezone.utc)
    secs = max(0, int((now - then).total_seconds()))
    for unit, size in (("d", 86400), ("h", 3600), ("min", 60)):
        if secs >= size:
            return f"{secs // size} {unit}"
    return f"{secs} s"
