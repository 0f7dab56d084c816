"""Merged compose trees that already passed the schema, so that a repeated deploy skips jsonschema.

Importing jsonschema and building its validator costs 0.1-0.2 s per process, more than the rest of the compose
stage, and a deploy of an unchanged project validates the same trees every time. A tree is recorded only after
it validated with no problem, as a keyed digest (HMAC-SHA256 with the environment's fingerprint key) of the
vendored schema and of the tree, type by type: declared secrets stay `${NAME}` in the trees, but every other
variable's value is in them, so a plain hash would let whoever reads the file test guesses of those values.
A tree of any other shape or value, a changed schema, another key or a damaged file is simply validated again.
The file is the project's own (`.gantry/cache/<env>.valid-trees`, 0600, never written through a link);
deleting it is always safe.
"""

from __future__ import annotations

import hashlib
import hmac
import os
import stat
from pathlib import Path

CACHE_DIR = ".gantry/cache"
KEEP = 32  # digests kept per environment (a few compose files x a few recent versions)
MAX_BYTES = 64 * 1024
_FORMAT = b"gantry valid-trees 1\n"


def _encode(value: object, out: list[str]) -> bool:
    """Append an exact, type-tagged text of a YAML tree; False for a value of any other type."""
    if isinstance(value, bool) or value is None:
        out.append(repr(value))
    elif isinstance(value, str):
        out.append("s" + str.__repr__(value))
    elif isinstance(value, (int, float)):
        out.append(("i" if isinstance(value, int) else "f") + repr(value))
    elif isinstance(value, dict):
        out.append("{")
        for key, item in value.items():
            if not (_encode(key, out) and _encode(item, out)):
                return False
        out.append("}")
    elif isinstance(value, list):
        out.append("[")
        if not all(_encode(item, out) for item in value):
            return False
        out.append("]")
    else:
        return False
    return True


class ValidTrees:
    """The digests of trees that passed the schema, for one environment's key and one schema."""

    def __init__(self, key: bytes, schema_digest: str, digests: list[str] | None = None) -> None:
        self._key = key
        self._schema = schema_digest.encode()
        self._known = dict.fromkeys(digests or ())
        self.changed = False

    def digest(self, tree: dict) -> str | None:
        """The tree's digest, or None when it holds a value this cache cannot name exactly."""
        parts: list[str] = []
        if not _encode(tree, parts):
            return None
        text = "\x00".join(parts).encode("utf-8", "surrogatepass")
        return hmac.new(self._key, _FORMAT + self._schema + b"\n" + text, hashlib.sha256).hexdigest()

    def __contains__(self, digest: str) -> bool:
        return digest in self._known

    def add(self, digest: str) -> None:
        if digest not in self._known:
            self._known[digest] = None
            self.changed = True

    def digests(self) -> list[str]:
        """The newest KEEP digests, oldest first."""
        return list(self._known)[-KEEP:]


def cache_path(root: str | Path, env_name: str) -> Path:
    return Path(root) / CACHE_DIR / f"{env_name}.valid-trees"


def _safe_dir(root: Path) -> Path | None:
    """`.gantry/cache` under the project, made 0700 if missing; None if any part of it is a link."""
    folder = root / CACHE_DIR
    for part in (root / ".gantry", folder):
        if part.is_symlink():
            return None
    folder.mkdir(mode=0o700, parents=True, exist_ok=True)
    return None if folder.is_symlink() else folder


def load(root: str | Path, env_name: str, key: bytes, schema_digest: str) -> ValidTrees:
    """The recorded digests; none when the file is missing, not a regular file or too large."""
    digests: list[str] = []
    try:
        fd = os.open(cache_path(root, env_name), os.O_RDONLY | os.O_NOFOLLOW)
    except OSError:
        return ValidTrees(key, schema_digest)
    with os.fdopen(fd, "rb") as fh:
        info = os.fstat(fh.fileno())
        if stat.S_ISREG(info.st_mode) and info.st_size <= MAX_BYTES:
            text = fh.read(MAX_BYTES)
            if text.startswith(_FORMAT):
                digests = [line for line in text[len(_FORMAT):].decode("ascii", "replace").split("\n")
                           if len(line) == 64]
    return ValidTrees(key, schema_digest, digests)


def save(root: str | Path, env_name: str, trees: ValidTrees) -> None:
    """Write the digests if any was added: a new 0600 file renamed over the old one. A cache that cannot be
    written is not an error (the next run validates again)."""
    if not trees.changed:
        return
    path = cache_path(root, env_name)
    try:
        folder = _safe_dir(Path(root))
    except OSError:
        return
    if folder is None:
        return
    tmp = folder / f".{path.name}.{os.getpid()}.tmp"
    try:
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW, 0o600)
        with os.fdopen(fd, "wb") as fh:
            fh.write(_FORMAT + "".join(f"{d}\n" for d in trees.digests()).encode())
        os.replace(tmp, path)
    except OSError:
        try:
            os.unlink(tmp)
        except OSError:
            pass
