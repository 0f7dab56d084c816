"""The release bundle: compose.yaml (no secret values), .env (secrets, 0600) with its digest, manifest.json.

A release id is the UTC time plus a short hash of the bundle's content, so two renders of the same
inputs share a content hash, and a host whose live release has the same hash needs no deploy.
"""

from __future__ import annotations

import datetime
import hashlib
import hmac
import json
import os
import re
import shutil
import tempfile
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path

from gantry import yamlio
from gantry.errors import ConfigError, UsageError

HASH_LEN = 10
ENV_DIGEST_FILE = ".env.sha256"  # the .env's sha256, 0600 beside it: a host verifies its .env without a key
MANIFEST_VERSION = 1


@dataclass(frozen=True)
class SourceDigest:
    path: str
    sha256: str


@dataclass(frozen=True)
class Release:
    id: str
    content_hash: str
    compose_yaml: str
    env_file: str = field(repr=False)
    manifest: Mapping = field(default_factory=dict)

    def files(self) -> dict[str, tuple[bytes, int]]:
        """Bundle files with their modes: the .env holds secrets and is 0600."""
        return {
            "compose.yaml": (self.compose_yaml.encode(), 0o644),
            ".env": (self.env_file.encode(), 0o600),
            ENV_DIGEST_FILE: (f"{sha256_text(self.env_file)}\n".encode(), 0o600),
            "manifest.json": (render_manifest(self.manifest).encode(), 0o644),
        }


def content_hash(compose_yaml: str, env_file: str, key: bytes = b"") -> str:
    return combine_hashes(sha256_text(compose_yaml), sha256_text(env_file), key)


def combine_hashes(compose_sha256: str, env_sha256: str, key: bytes = b"") -> str:
    """The content hash from the files' hex sha256 digests. With a key, the .env part is an HMAC of its
    digest: a release id is public (it names a directory), so it must not let anyone confirm a guessed
    secret. (A host checks its .env against `.env.sha256`, 0600 beside it, and needs no key.)"""
    digest = hashlib.sha256()
    digest.update(bytes.fromhex(compose_sha256))
    env_part = bytes.fromhex(env_sha256)
    digest.update(hmac.new(key, env_part, hashlib.sha256).digest() if key else env_part)
    return digest.hexdigest()[:HASH_LEN]


def release_id(now: datetime.datetime, chash: str) -> str:
    stamp = now.astimezone(datetime.timezone.utc).strftime("%Y%m%dT%H%M%SZ")
    return f"{stamp}-{chash}"


def hash_of_release_id(rid: str) -> str:
    """The content hash a release id ends with ('' for a name that is not a release id)."""
    stamp, _, chash = rid.rpartition("-")
    return chash if stamp and len(chash) == HASH_LEN else ""


def sha256_text(text: str) -> str:
    return hashlib.sha256(text.encode()).hexdigest()


def make_release(
    *,
    environment: str,
    project: str,
    compose_yaml: str,
    env_file: str,
    sources: Sequence[SourceDigest],
    images: Mapping[str, str],
    secret_fingerprints: Mapping[str, str],
    git_commit: str,
    now: datetime.datetime,
    who: str,
    key: bytes = b"",
) -> Release:
    """Assemble a release; `now`, `who`, the git commit and the fingerprint key are passed in, never looked up."""
    chash = content_hash(compose_yaml, env_file, key)
    rid = release_id(now, chash)
    manifest = {
        "version": MANIFEST_VERSION,
        "release": rid,
        "content_hash": chash,
        "environment": environment,
        "project": project,
        "created_at": now.astimezone(datetime.timezone.utc).isoformat(timespec="seconds"),
        "created_by": who,
        "git_commit": git_commit,
        "sources": [{"path": s.path, "sha256": s.sha256} for s in sources],
        "images": dict(sorted(images.items())),
        "compose_sha256": sha256_text(compose_yaml),
        "secrets": dict(sorted(secret_fingerprints.items())),
    }
    return Release(rid, chash, compose_yaml, env_file, manifest)


def check_bundle_dir(dest: Path) -> None:
    """`--out` must name a directory, new or existing: not `-` (stdout), not a file."""
    shown = f"--out {dest}"
    if str(dest) in ("-", ""):
        raise UsageError(shown, "a bundle is three files and cannot go to stdout", "name a directory")
    if os.path.lexists(dest) and not dest.is_dir():
        raise UsageError(shown, "exists and is not a directory", "name a new or an existing directory")


def write_bundle(dest: Path, files: Mapping[str, tuple[bytes, int]]) -> None:
    """Write bundle files into `dest`, never through a link someone planted there.

    Each file is created (O_EXCL|O_NOFOLLOW, its final mode) in a fresh private directory inside `dest`,
    then renamed into place: a rename replaces a link at the destination instead of following it.
    """
    check_bundle_dir(dest)
    shown = f"--out {dest}"
    try:
        dest.mkdir(parents=True, exist_ok=True)
        tmp = Path(tempfile.mkdtemp(prefix=".gantry-bundle-", dir=dest))
    except OSError as exc:
        raise UsageError(shown, f"cannot create the directory ({exc.strerror})", "check the path") from None
    try:
        for name, (data, mode) in files.items():
            fd = os.open(tmp / name, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW, mode)
            with os.fdopen(fd, "wb") as fh:
                os.fchmod(fh.fileno(), mode)
                fh.write(data)
        for name in files:  # all or nothing: check every destination before the first rename
            target = dest / name
            if target.is_dir() and not target.is_symlink():
                raise ConfigError(f"{dest}/{name}", "is a directory", "remove it, or write the bundle elsewhere")
        for name in files:
            os.rename(tmp / name, dest / name)
    except OSError as exc:
        raise ConfigError(str(dest), f"cannot write the bundle ({exc.strerror})", "check the directory") from None
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


_SERVICE_IMAGE = re.compile(r"^(    image: )(\S+)$")  # a service's `image:` as compose.render writes it


def pinned_compose(compose_yaml: str, pins: Mapping[str, str]) -> str:
    """A release's compose.yaml with each pinned service image (`repo:tag`) written as its recorded digest
    (`repo@sha256:..`): the host's copy that a rollback runs, so it gets the same bytes without retagging an
    image other projects on the host may run. Every other byte stays; ValueError when the text does not load
    back as the same model with only those images changed (a compose file not written by Gantry's renderer)."""
    lines, top = compose_yaml.splitlines(keepends=True), ""
    for i, line in enumerate(lines):
        if line[:1] not in (" ", "\n", ""):
            top = line.split(":", 1)[0]
        found = _SERVICE_IMAGE.match(line.rstrip("\n"))
        ref = found.group(2).strip("\"'") if found else ""
        if top == "services" and ref in pins:
            lines[i] = f"{found.group(1)}{pins[ref]}\n"
    pinned = "".join(lines)
    want = yamlio.load_documents(compose_yaml, "compose.yaml")[0].data or {}
    for svc in (want.get("services") or {}).values():
        if isinstance(svc, dict) and svc.get("image") in pins:
            svc["image"] = pins[svc["image"]]
    if yamlio.load_documents(pinned, "compose.yaml")[0].data != want:
        raise ValueError("compose.yaml is not in the shape Gantry renders: its images cannot be pinned in place")
    return pinned


def render_manifest(manifest: Mapping) -> str:
    return json.dumps(manifest, indent=2, sort_keys=True) + "\n"


def good_releases(records: Sequence[dict]) -> dict[str, bool]:
    """Release id -> whether its last deploy or rollback on this host ended healthy."""
    good: dict[str, bool] = {}
    for rec in records:
        good[str(rec.get("release", ""))] = rec.get("outcome") in ("deployed", "unchanged")
    return good


def previous_release(releases: Sequence[str], current: str, good: dict[str, bool] | None = None) -> str:
    """The newest kept release older than current that did not fail (a release with no record counts)."""
    older = [r for r in releases if r < current] if current else list(releases)
    older = [r for r in older if (good or {}).get(r, True)]
    return older[-1] if older else ""


def releases_to_prune(releases: Sequence[str], new: str, current: str, previous: str, keep: int) -> tuple[str, ...]:
    """Releases beyond `keep` (newest first); the current and previous ones are never pruned."""
    kept = sorted(set(releases) | {new}, reverse=True)
    protected = {current, previous, new}
    extra = [r for r in kept[keep:] if r not in protected]
    return tuple(sorted(extra))


def live_history(records: Sequence[dict]) -> list[str]:
    """The releases a host ran, oldest first, as its audit trail records them (one entry per change)."""
    live: list[str] = []
    for rec in records:
        outcome = rec.get("outcome")
        rid = str(rec.get("release") or "") if outcome in ("deployed", "unchanged") else \
            str(rec.get("previous") or "") if outcome == "rolled-back" else ""
        if rid and (not live or live[-1] != rid):
            live.append(rid)
    return live


def rollback_target(records: Sequence[dict], releases: Sequence[str], current: str) -> str:
    """The release that was live before the current one, skipping any whose content equals the current's.

    From the audit trail when it knows the current release (v1 -> v2 -> v1 -> v2' goes back to v1, not to
    the older v2, whose content is v2's); otherwise the newest kept release older than current with
    another content hash, whose last recorded outcome was not a failure.
    """
    same = hash_of_release_id(current)
    history = live_history(records)
    kept = set(releases)
    if current and current in history:
        older = history[:len(history) - history[::-1].index(current) - 1]
        for rid in reversed(older):  # a pruned release (or an id no host ever kept) is passed over
            if rid in kept and hash_of_release_id(rid) != same:
                return rid
        return ""
    good = good_releases(records)
    others = [r for r in releases if r != current and hash_of_release_id(r) != same]
    return previous_release(others, current, good)
