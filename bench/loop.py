"""A bounded request loop (the blue/green e2e story, `python -m bench.bluegreen`): lab hosts' addresses only,
a few thousand requests at most, bounded in time. It counts failed requests, and per host the order in which
the answers changed."""

from __future__ import annotations

import http.client
import threading
import time
import urllib.error
import urllib.request
from dataclasses import dataclass, field

MAX_REQUESTS = 3000
MAX_SECONDS = 120.0
PAUSE = 0.02  # between requests to one host: about 50 per second per host, far below what the proxy takes


@dataclass
class Tally:
    answers: list[str] = field(default_factory=list)  # each distinct answer in the order it was first seen
    ok: int = 0
    failed: int = 0
    errors: dict[str, int] = field(default_factory=dict)

    def add(self, answer: str | None, error: str = "") -> None:
        if answer is None:
            self.failed += 1
            self.errors[error] = self.errors.get(error, 0) + 1
            return
        self.ok += 1
        if not self.answers or self.answers[-1] != answer:
            self.answers.append(answer)


class RequestLoop:
    """GET `path` on every address, one thread per address, until stopped (or the bounds are reached)."""

    def __init__(self, addresses: list[str], port: int, path: str = "/version", *,
                 max_requests: int = MAX_REQUESTS, max_seconds: float = MAX_SECONDS) -> None:
        assert all(a.startswith("10.231.") for a in addresses), addresses  # lab hosts only
        self.urls = {a: f"http://{a}:{port}{path}" for a in addresses}
        self.tallies = {a: Tally() for a in addresses}
        self.budget = max_requests // max(1, len(addresses))
        self.deadline = time.monotonic() + max_seconds
        self.stop_event = threading.Event()
        self.opener = urllib.request.build_opener(urllib.request.ProxyHandler({}))
        self.threads = [threading.Thread(target=self._run, args=(a,), daemon=True) for a in addresses]

    def _run(self, address: str) -> None:
        tally = self.tallies[address]
        for _ in range(self.budget):
            if self.stop_event.is_set() or time.monotonic() > self.deadline:
                return
            try:
                with self.opener.open(self.urls[address], timeout=5) as answer:
                    tally.add(answer.read().decode(errors="replace").strip())
            except urllib.error.HTTPError as exc:
                tally.add(None, f"HTTP {exc.code}")
            except (OSError, http.client.HTTPException) as exc:  # refused, reset, cut short mid-answer
                tally.add(None, type(getattr(exc, "reason", exc)).__name__)
            time.sleep(PAUSE)

    def __enter__(self) -> RequestLoop:
        for t in self.threads:
            t.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop_event.set()
        for t in self.threads:
            t.join(timeout=10)

    @property
    def failed(self) -> int:
        return sum(t.failed for t in self.tallies.values())

    @property
    def total(self) -> int:
        return sum(t.ok + t.failed for t in self.tallies.values())

    def line(self, label: str) -> str:
        per_host = "; ".join(f"{a}: {t.ok} ok, {t.failed} failed {t.errors or ''} answers {'->'.join(t.answers)}"
                             for a, t in self.tallies.items())
        return f"{label}: {self.total} requests, {self.failed} failed ({per_host})"
