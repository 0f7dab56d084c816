"""Parsers of what Gantry keeps on a host and reads back: the marker sections of a round trip, the lock's
details, the audit log, a kept release's files, and the images' digests and configs.

Pure functions from text to values; the commands that print these texts are in gantry.engines.hosts.commands.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field

from gantry.engines.hosts.commands import MARK
from gantry.release import combine_hashes, hash_of_release_id


def split_sections(text: str) -> dict[str, list[str]]:
    """Split marker-delimited output into named sections of lines."""
    sections: dict[str, list[str]] = {}
    name = ""
    for line in text.splitlines():
        if line.startswith(MARK):
            name = line[len(MARK):].strip()
            sections.setdefault(name, [])
        elif name:
            sections[name].append(line)
    return sections


@dataclass(frozen=True)
class LockInfo:
    holder: str = ""
    since: str = ""
    release: str = ""
    pid: str = ""
    raw: str = ""


def parse_lock(text: str) -> LockInfo | None:
    text = text.strip()
    if not text:
        return None
    try:
        data = json.loads(text)
    except ValueError:
        return LockInfo(raw=text[:200])
    if not isinstance(data, dict):
        return LockInfo(raw=text[:200])
    return LockInfo(str(data.get("holder", "")), str(data.get("since", "")), str(data.get("release", "")),
                    str(data.get("pid", "")), text[:500])


@dataclass(frozen=True)
class AuditLines:
    records: tuple[dict, ...]
    bad_lines: int = 0


def parse_audit(text: str) -> AuditLines:
    records, bad = [], 0
    for line in text.splitlines():
        if not line.strip():
            continue
        try:
            rec = json.loads(line)
        except ValueError:
            bad += 1
            continue
        if isinstance(rec, dict):
            records.append(rec)
        else:
            bad += 1
    return AuditLines(tuple(records), bad)


def _repo_of(ref: str) -> str:
    """`host:5000/app/web:1.0@sha256:..` -> `host:5000/app/web`."""
    ref = ref.split("@", 1)[0]
    slash = ref.rfind("/")
    colon = ref.rfind(":")
    return ref[:colon] if colon > slash else ref


def parse_image_digests(lines: list[str], images: tuple[str, ...] | list[str]) -> dict[str, str]:
    """Map each image reference to `repo@sha256:...` from `docker image inspect` lines (tags, digests)."""
    out: dict[str, str] = {}
    for line in lines:
        tags_json, _, digests_json = line.strip().partition(" ")
        try:
            tags, digests = json.loads(tags_json or "[]") or [], json.loads(digests_json or "[]") or []
        except ValueError:
            continue
        for ref in images:
            if ref in tags or ref.removeprefix("docker.io/library/") in tags or ref.removeprefix("docker.io/") in tags:
                mine = [d for d in digests if _repo_of(d) in (_repo_of(ref), _repo_of(ref).removeprefix("docker.io/"),
                                                             _repo_of(ref).removeprefix("docker.io/library/"))]
                if mine:
                    out[ref] = mine[0]
    return out


@dataclass(frozen=True)
class ReleaseCheck:
    """What a kept release looks like on a host: its problems ('' each when complete) and its contents."""

    problems: tuple[str, ...]
    compose_yaml: str = ""
    manifest: dict = field(default_factory=dict)


def parse_release_check(text: str, rid: str) -> ReleaseCheck:
    """The output of commands.verify_release: every file present, hashes matching the manifest.

    The manifest records the compose file's sha256 and the content hash, which the release id ends with;
    the .env is hashed on the host, never read, and checked against `.env.sha256` (0600) beside it, since
    the content hash keys its .env part (release.combine_hashes). A release made before that file existed
    is checked against an unkeyed content hash.
    """
    s = split_sections(text)
    sums: dict[str, str] = {}
    for line in s.get("sums", []):
        digest, _, path = line.strip().partition("  ")
        if len(digest) == 64:
            sums[path.rsplit("/", 1)[-1]] = digest
    problems = [f"{name} is missing" for name in ("compose.yaml", ".env") if name not in sums]
    env_digest = "".join(s.get("env-digest", [])).strip()
    manifest_text = "\n".join(s.get("manifest", [])).strip()
    manifest: dict = {}
    if not manifest_text:
        problems.append("manifest.json is missing")
    else:
        try:
            loaded = json.loads(manifest_text)
            manifest = loaded if isinstance(loaded, dict) else {}
        except ValueError:
            problems.append("manifest.json is not valid JSON")
    if manifest and not problems:
        if manifest.get("compose_sha256") != sums["compose.yaml"]:
            problems.append("compose.yaml does not match the sha256 in manifest.json (altered)")
        elif env_digest and env_digest != sums[".env"]:
            problems.append(".env does not match its digest in .env.sha256 (altered)")
        elif not env_digest and combine_hashes(sums["compose.yaml"], sums[".env"]) != manifest.get("content_hash"):
            problems.append(".env does not match the content hash in manifest.json (altered)")
        elif hash_of_release_id(rid) != manifest.get("content_hash"):
            problems.append("manifest.json belongs to another release (its content hash differs from the id)")
    compose_text = "".join(f"{line}\n" for line in s.get("compose", []))
    return ReleaseCheck(tuple(problems), compose_text, manifest)


def parse_image_config(lines: list[str], images: tuple[str, ...] | list[str]) -> dict[str, dict]:
    """`docker image inspect` lines (tags, Config.User, Config.Healthcheck) -> {ref: {"Config": {...}}}."""
    out: dict[str, dict] = {}
    decoder = json.JSONDecoder()
    for line in lines:
        text = line.strip()
        try:
            tags, end = decoder.raw_decode(text)
            user, end2 = decoder.raw_decode(text, end + 1)
            health, _ = decoder.raw_decode(text, end2 + 1)
        except ValueError:
            continue
        for ref in images:
            if ref in (tags or []):
                out[ref] = {"Config": {"User": user or "", "Healthcheck": health}}
    return out
