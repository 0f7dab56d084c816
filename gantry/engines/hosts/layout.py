"""The host's release directory as argvs: its layout, the bundle upload, verify, switch, prune, audit and lock.

Host layout under `<deploy_path>/<project>/<env>/` (namespaced, so projects and environments can
share a host):
  releases/<id>/      compose.yaml, .env and .env.sha256 (0600), manifest.json; the directory is 0700
  compose.pinned.yaml  the live release's compose.yaml with its images as recorded digests, present while it runs
                      from it (after a rollback); its first line names the release
  releases/.incoming-<id>/   an upload in progress; renamed into place when complete
  current -> releases/<id>   the live, healthy release; switched by renaming a symlink
  deploys.jsonl       append-only audit log, one JSON object per line
  lock/               held while a deploy runs (mkdir is atomic); lock/info.json says by whom
"""

from __future__ import annotations

import posixpath
from collections.abc import Sequence
from dataclasses import dataclass

from gantry.shell import (
    Argv,
    Command,
    and_then,
    append_to,
    argv,
    or_else,
    quiet,
    sequence,
    write_to,
)

PINNED_FILE = "compose.pinned.yaml"
MARK = "--gantry:"  # section markers in the facts output; parsed by gantry.engines.hosts.records


def marker(name: str) -> Argv:
    return argv("echo", f"{MARK}{name}")


def _child(base: str, name: str) -> str:
    """`base/name` for one path part that cannot climb out of base (no '/', not '.' or '..', no leading '-',
    no control characters). Odd but harmless names a host may hold (`lost+found`) are fine: argvs are quoted."""
    path = f"{base}/{name}"
    if (not name or name in (".", "..") or name.startswith("-") or "/" in name or not name.isprintable()
            or posixpath.dirname(posixpath.normpath(path)) != base):
        raise ValueError(f"refusing a remote path outside {base}: {name[:40]!r}")
    return path


@dataclass(frozen=True)
class Layout:
    """Every remote path, built from validated parts under `base` (`<deploy_path>/<project>/<env>`)."""

    base: str

    def __post_init__(self) -> None:
        norm = posixpath.normpath(self.base)
        if not self.base.startswith("/") or norm != self.base or norm.count("/") < 2 or not self.base.isprintable():
            raise ValueError(f"refusing a deploy base that is not a plain absolute path: {self.base[:80]!r}")

    @property
    def releases(self) -> str:
        return f"{self.base}/releases"

    @property
    def current(self) -> str:
        return f"{self.base}/current"

    @property
    def lock(self) -> str:
        return f"{self.base}/lock"

    @property
    def lock_info(self) -> str:
        return f"{self.base}/lock/info.json"

    @property
    def audit_log(self) -> str:
        return f"{self.base}/deploys.jsonl"

    def release(self, rid: str) -> str:
        return _child(self.releases, rid)

    @property
    def pinned(self) -> str:
        """The host's pinned copy of the release last brought up pinned (outside releases/, whose files the
        release's hashes cover)."""
        return f"{self.base}/{PINNED_FILE}"

    def incoming(self, rid: str) -> str:
        return f"{self.releases}/.incoming-{_child(self.releases, rid).rsplit('/', 1)[1]}"


def acquire_lock(layout: Layout, info_json: str) -> Command:
    """Take the lock atomically (mkdir), then record who holds it; prints a marker on success."""
    # A lock whose details cannot be written (a full disk) is given back at once: a lock dir without
    # details would block every later deploy with an unknown holder.
    return and_then(
        argv("mkdir", "-p", "-m", "0700", layout.releases),
        argv("mkdir", layout.lock),
        or_else(write_to(argv("printf", "%s\\n", info_json), layout.lock_info),
                and_then(release_lock(layout), argv("false"))),
        marker("locked"),
    )


def release_lock(layout: Layout) -> Argv:
    return argv("rm", "-rf", layout.lock)


def receive_bundle(layout: Layout, rid: str) -> Command:
    """Unpack a tar of the bundle from stdin into a hidden directory, then rename it into place."""
    incoming = layout.incoming(rid)
    unpack = and_then(
        argv("rm", "-rf", incoming),
        argv("mkdir", "-p", "-m", "0700", incoming),
        argv("tar", "-x", "-p", "-f", "-", "-C", incoming),
        argv("chmod", "0600", f"{incoming}/.env"),
        argv("chmod", "0700", incoming),
        argv("mv", "-T", incoming, layout.release(rid)),
    )
    return or_else(unpack, and_then(argv("rm", "-rf", incoming), argv("false")))  # nothing half-made stays


def verify_release(layout: Layout, rid: str) -> Command:
    """Read-only: the hashes of a kept release's files, its manifest and its compose file (one round trip)."""
    rel = layout.release(rid)
    return sequence(
        marker("sums"), quiet(argv("sha256sum", "--", f"{rel}/compose.yaml", f"{rel}/.env")),
        marker("env-digest"), quiet(argv("cat", f"{rel}/.env.sha256")),
        marker("manifest"), quiet(argv("cat", f"{rel}/manifest.json")),
        marker("compose"), quiet(argv("cat", f"{rel}/compose.yaml")),
        marker("verify-end"),
    )


def write_file_atomic(path: str, content: str) -> Command:
    """Write non-secret text to a temporary name, then rename it over the file."""
    tmp = f"{path}.tmp"
    return and_then(write_to(argv("printf", "%s", content), tmp), argv("mv", "-f", tmp, path))


def record_and_switch(layout: Layout, rid: str, manifest_text: str) -> Command:
    """Rewrite the release's manifest (with the digests resolved on this host), then make it current."""
    return and_then(write_file_atomic(f"{layout.release(rid)}/manifest.json", manifest_text),
                    switch_current(layout, rid))


def switch_current(layout: Layout, rid: str) -> Command:
    """Point `current` at a release by renaming a new symlink over it (atomic)."""
    tmp = f"{layout.base}/.current-{_child(layout.releases, rid).rsplit('/', 1)[1]}"
    return and_then(
        argv("test", "-d", layout.release(rid)),
        argv("ln", "-sfn", f"releases/{rid}", tmp),
        argv("mv", "-T", tmp, layout.current),
    )


def remove_releases(layout: Layout, rids: Sequence[str]) -> Argv:
    return argv("rm", "-rf", "--", *(layout.release(r) for r in rids))


def append_audit(layout: Layout, line_json: str) -> Command:
    return append_to(argv("printf", "%s\\n", line_json), layout.audit_log)


def read_audit(layout: Layout) -> Command:
    return or_else(quiet(argv("cat", layout.audit_log)), argv("true"))


def finish(layout: Layout, rid: str | None, prune: Sequence[str], audit_json: str) -> Command:
    """One round trip at the end of a deploy: switch (if any), prune, audit, unlock."""
    steps: list[Command] = []
    if rid:
        steps.append(switch_current(layout, rid))
    if prune:
        steps.append(remove_releases(layout, prune))
    steps += [append_audit(layout, audit_json), release_lock(layout)]
    return sequence(*steps)


RELEASE_FILES = ("compose.yaml", ".env", "manifest.json")


def release_files(layout: Layout) -> Command:
    """Read-only: every file directly inside a kept release (for `inv status` to spot a damaged one)."""
    return sequence(marker("release-files"),
                    quiet(argv("find", layout.releases, "-mindepth", "2", "-maxdepth", "2", "-type", "f")),
                    marker("release-files-end"))
