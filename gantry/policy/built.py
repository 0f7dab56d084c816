"""Rules over the images `gantry build` made (BUILT_RULES): the size budget and build tools in a prod image.

The build side reads each image (its size from the engine, its file paths from an exported container);
this module judges what was read, with the one engine's levels, overrides and waivers (by service).
The budget is `policy.image_size_budget` (decimal units as `docker images` prints them: 200MB).
"""

from __future__ import annotations

import datetime
import fnmatch
from collections.abc import Iterator, Sequence
from dataclasses import dataclass

from gantry.policy.catalogue import BUILT_RULES
from gantry.policy.check import judge
from gantry.policy.findings import Hit, PolicyReport, PolicySettings

# (pattern over an image's file paths, what it is). Paths have no leading slash, as `tar -t` prints them.
BUILD_TOOLS = (
    ("usr/bin/gcc*", "a C compiler (gcc)"), ("usr/bin/cc", "a C compiler (cc)"), ("usr/bin/g++*", "a C++ compiler"),
    ("usr/bin/clang*", "a C compiler (clang)"), ("usr/bin/rustc", "the Rust compiler"),
    ("usr/local/go/bin/go", "the Go toolchain"), ("usr/bin/javac", "a Java compiler"),
    ("usr/bin/make", "make"), ("var/cache/apt/archives/*.deb", "the apt package cache"),
    ("var/lib/apt/lists/*_Packages*", "apt package lists"), ("var/cache/apk/*", "the apk package cache"),
    ("root/.cache/pip/*", "the pip cache"), ("root/.npm/_cacache/*", "the npm cache"),
    ("var/cache/yum/*", "the yum package cache"), ("var/cache/dnf/*", "the dnf package cache"),
)


@dataclass(frozen=True)
class BuiltImage:
    """What the build side read of one built image."""

    service: str
    image: str  # the compose `image:` reference it was tagged as
    target: str  # the Dockerfile stage built ("": the last one)
    size: int  # bytes, as the engine reports it
    tools: tuple[str, ...] = ()  # find_build_tools of its file paths


def find_build_tools(paths: Sequence[str]) -> list[str]:
    """What BUILD_TOOLS names, for the image file paths given (each kind once, in table order)."""
    clean = [p.removeprefix("./").lstrip("/") for p in paths]
    return [what for pattern, what in BUILD_TOOLS if any(fnmatch.fnmatchcase(p, pattern) for p in clean)]


def built_hits(image: BuiltImage, settings: PolicySettings) -> Iterator[Hit]:
    budget = settings.image_size_budget
    if budget and image.size > budget:
        yield Hit("IMG-SIZE-BUDGET", settings.budget_key,
                  f"{image.image} is {image.size / 1e6:.1f} MB, over the budget of {budget / 1e6:g} MB")
    if image.tools:
        yield Hit("IMG-BUILD-TOOLS", f"services.{image.service}.build.target",
                  f"{image.image} (target {image.target or 'the last stage'}) contains {', '.join(image.tools)}")


def check_built(images: Sequence[BuiltImage], settings: PolicySettings, *, today: datetime.date) -> PolicyReport:
    """Judge the built images (services in the order given); waived findings are kept, marked."""
    hits = [(image.service, hit) for image in images for hit in built_hits(image, settings)]
    return judge(hits, settings, today=today, order=[image.service for image in images], catalogue=BUILT_RULES)
