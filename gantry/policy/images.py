"""Image rules: mutable tags, missing digests, untrusted registries; and the reference parser."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass

from gantry.policy.findings import Hit, ServiceView

DEFAULT_REGISTRY = "docker.io"
MUTABLE_TAGS = frozenset({"latest", "stable", "edge", "nightly", "dev", "test"})


@dataclass(frozen=True)
class ImageRef:
    """`[registry[:port]/]path[:tag][@digest]`, with Docker Hub defaults filled in."""

    registry: str
    repository: str
    tag: str = ""
    digest: str = ""

    @property
    def pinned_tag(self) -> bool:
        return bool(self.tag) and self.tag.lower() not in MUTABLE_TAGS


def parse_image(reference: str) -> ImageRef:
    """Split an image reference.

    The tag is a `:` after the last `/`, so `registry:5000/app` has a registry port and no
    tag. The registry is the first component when it contains `.` or `:` or is `localhost`;
    otherwise the image is on docker.io, and a one-component name lives under `library/`.
    """
    name, _, digest = reference.strip().partition("@")
    tag = ""
    colon = name.rfind(":")
    if colon > name.rfind("/"):
        name, tag = name[:colon], name[colon + 1:]
    first, sep, rest = name.partition("/")
    if sep and ("." in first or ":" in first or first == "localhost"):
        registry, repository = first, rest
    else:
        registry, repository = DEFAULT_REGISTRY, name
    if registry == DEFAULT_REGISTRY and "/" not in repository:
        repository = f"library/{repository}"
    return ImageRef(registry, repository, tag, digest)


def check(view: ServiceView) -> Iterator[Hit]:
    image = view.service.get("image")
    if not isinstance(image, str) or not image.strip():
        return
    ref = parse_image(image)
    path = f"{view.base}.image"
    if not ref.digest:
        if not ref.tag:
            yield Hit("IMG-TAG-MUTABLE", path, f"image {image} has no tag (means latest) and no digest")
        elif not ref.pinned_tag:
            yield Hit("IMG-TAG-MUTABLE", path, f"image {image} uses the moving tag {ref.tag!r}")
        else:
            yield Hit("IMG-DIGEST-MISSING", path, f"image {image} is pinned by tag only, not by digest")
    allowed = view.settings.allow_registries
    if allowed and ref.registry not in allowed:
        yield Hit("IMG-REGISTRY-UNTRUSTED", path,
                  f"registry {ref.registry} is not in the allow-list ({', '.join(allowed)})")
