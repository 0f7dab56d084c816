"""`gantry build`: services with `build:` built on the deploying side's engine, measured and checked.

The engine is the environment's `images.docker_host`, else the process's DOCKER_HOST, else the local one
(a remote engine over SSH is `ssh://user@host`, the docker CLI's own transport). The target stage is
`images.target` (default: the service's `build.target`), so a multi-stage Dockerfile's prod stage leaves
compilers and sources out. Each image's size and file listing are read here and judged by the policy
(gantry/policy/built.py: IMG-SIZE-BUDGET, IMG-BUILD-TOOLS).
"""

from __future__ import annotations

import datetime
import json
import subprocess
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

from gantry.errors import ConfigError
from gantry.policy import PolicyReport, PolicySettings
from gantry.policy.built import BuiltImage, check_built, find_build_tools
from gantry.policy.report import hint
from gantry.remote.transfer import docker_env, engine_name


@dataclass(frozen=True)
class BuildSpec:
    service: str
    image: str  # the compose `image:` reference the deploy runs
    context: str
    dockerfile: str
    target: str


@dataclass(frozen=True)
class Built:
    spec: BuildSpec
    tags: tuple[str, ...]
    size: int  # bytes, as the engine reports it
    layers: int
    tools: tuple[str, ...]  # build tools found in the image's files


def build_specs(services: Mapping[str, Mapping], project: str, target: str, source: str) -> list[BuildSpec]:
    """The services that have `build:`, with the image each is tagged as and the stage to build."""
    out = []
    for name, service in sorted(services.items()):
        build = service.get("build")
        if not isinstance(build, Mapping):
            continue
        if "dockerfile_inline" in build:
            raise ConfigError(f"{source}: services.{name}.build.dockerfile_inline", "not supported by gantry build",
                              "put the Dockerfile in a file")
        out.append(BuildSpec(name, str(service.get("image") or f"{project}-{name}"), str(build["context"]),
                             str(build.get("dockerfile", "Dockerfile")), target or str(build.get("target") or "")))
    return out


def release_tag(image: str, release_id: str) -> str:
    """The image's repository tagged with the release id (a tag may hold [A-Za-z0-9_.-], 128 at most)."""
    repo = image.rsplit("@", 1)[0]
    if ":" in repo.rsplit("/", 1)[-1]:
        repo = repo.rsplit(":", 1)[0]
    tag = "".join(ch if ch.isalnum() or ch in "_.-" else "-" for ch in release_id)[:128]
    return f"{repo}:{tag}"


def build_argv(spec: BuildSpec, tags: Sequence[str]) -> list[str]:
    words = ["docker", "build", "--quiet", "--file", spec.dockerfile if spec.dockerfile.startswith("/")
             else f"{spec.context}/{spec.dockerfile}"]
    for tag in tags:
        words += ["--tag", tag]
    if spec.target:
        words += ["--target", spec.target]
    return [*words, spec.context]


def judged(built: Sequence[Built]) -> list[BuiltImage]:
    """What the policy judges of each built image."""
    return [BuiltImage(b.spec.service, b.spec.image, b.spec.target, b.size, b.tools) for b in built]


# How `gantry build` says each finding on one line (the engine's text, JSON and SARIF renderings say more).
_LINES = {"IMG-SIZE-BUDGET": "{source}: {f.path}: {f.service}: {f.message}",
          "IMG-BUILD-TOOLS": "{f.service}: {f.message}: {hint}"}


def policy_lines(report: PolicyReport, source: str, severity: str = "warn") -> list[str]:
    """The report's unwaived findings of one severity as `gantry build` prints them."""
    return [_LINES[f.rule].format(f=f, source=source, hint=hint(f.fix)) for f in report.findings
            if f.severity == severity and not f.waived]


def budget_warnings(built: Sequence[Built], budget_mb: float, *, prod: bool, source: str) -> list[str]:
    """The policy's lines on built images at level prod (else dev), with a budget in MB and no waivers."""
    settings = PolicySettings(level="prod" if prod else "dev", image_size_budget=int(budget_mb * 1_000_000),
                              budget_key="images.size_budget_mb")
    return policy_lines(check_built(judged(built), settings, today=datetime.date.min), source)


class Engine:
    """The deploying side's docker CLI, bound to one engine."""

    def __init__(self, docker_host: str, source: str) -> None:
        self.env, self.source, self.name = docker_env(docker_host), source, engine_name(docker_host)

    def run(self, words: Sequence[str], what: str, timeout: float = 1800) -> str:
        proc = subprocess.run(list(words), capture_output=True, text=True, env=self.env, timeout=timeout)
        if proc.returncode:
            tail = "\n    ".join((proc.stderr.strip() or proc.stdout.strip()).splitlines()[-8:])
            raise ConfigError(f"{self.source}: {what}", f"failed with exit code {proc.returncode} on "
                              f"{self.name}:\n    {tail}", "fix the Dockerfile or the build context")
        return proc.stdout

    def files(self, image: str) -> list[str]:
        """Every path in the image's filesystem (a created, never started container, exported)."""
        cid = self.run(["docker", "create", image, "/"], f"inspect {image}").strip()
        try:
            export = subprocess.Popen(["docker", "export", cid], stdout=subprocess.PIPE, env=self.env)
            listing = subprocess.run(["tar", "-t"], stdin=export.stdout, capture_output=True, text=True,
                                     timeout=600)
            export.wait()
        finally:
            subprocess.run(["docker", "rm", "-f", cid], capture_output=True, env=self.env)
        return listing.stdout.splitlines()

    def build(self, spec: BuildSpec, release_id: str) -> Built:
        tags = (spec.image, release_tag(spec.image, release_id))
        self.run(build_argv(spec, tags), f"services.{spec.service}.build")
        size, layers = json.loads(self.run(["docker", "image", "inspect", "--format",
                                            "[{{.Size}}, {{len .RootFS.Layers}}]", spec.image],
                                           f"inspect {spec.image}"))
        return Built(spec, tags, int(size), int(layers), tuple(find_build_tools(self.files(spec.image))))

    def push(self, tags: Sequence[str]) -> None:
        for tag in tags:
            self.run(["docker", "push", "--quiet", tag], f"push {tag}", timeout=1800)
