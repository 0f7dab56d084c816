"""Images without a registry: the images a host lacks are streamed to it as `docker save | docker load`.

The deploying side reads the images from a Docker Engine it can reach: `images.docker_host` in the
environment, else the process's DOCKER_HOST, else the local engine (`docker` CLI defaults). Put them there
with `gantry build`, `docker pull` or `docker load`. Per host, only images whose id differs from the
deploying side's (absent, or the tag points elsewhere) are sent, in one stream; each is then checked by id.
"""

from __future__ import annotations

import os
import subprocess
import threading
from collections.abc import Callable, Mapping, Sequence

from gantry.errors import ConfigError, HostError
from gantry.remote.executor import HostConnection
from gantry.shell import Argv, Command, argv, or_else, quiet, sequence

ID_FORMAT = "{{.Id}}"


def docker_env(docker_host: str, environ: Mapping[str, str] | None = None) -> dict[str, str]:
    """The local `docker` CLI's environment: the process's, with DOCKER_HOST set when the config names one."""
    env = dict(os.environ if environ is None else environ)
    if docker_host:
        env["DOCKER_HOST"] = docker_host
    return env


def engine_name(docker_host: str, environ: Mapping[str, str] | None = None) -> str:
    env = docker_env(docker_host, environ)
    return env.get("DOCKER_HOST") or "the local Docker Engine"


def image_ids(images: Sequence[str]) -> Command:
    """One line per image: `<ref> <id>`, or `<ref> -` when the engine lacks it (never fails)."""
    return sequence(*(or_else(quiet(argv("docker", "image", "inspect", "--format", f"{ref} {ID_FORMAT}", ref)),
                              argv("echo", ref, "-")) for ref in images))


def load_images() -> Argv:
    return argv("docker", "load", "--quiet")


def parse_image_ids(text: str) -> dict[str, str]:
    """`<ref> <id>` lines -> {ref: id}; `-` (absent) and malformed lines are left out."""
    out = {}
    for line in text.splitlines():
        ref, _, image_id = line.strip().rpartition(" ")
        if ref and image_id.startswith("sha256:"):
            out[ref] = image_id
    return out


def to_send(wanted: Mapping[str, str], present: Mapping[str, str]) -> list[str]:
    """The refs a host must receive: absent there, or present under another id."""
    return sorted(ref for ref, image_id in wanted.items() if present.get(ref) != image_id)


def local_ids(images: Sequence[str], docker_host: str, source: str) -> dict[str, str]:
    """The deploying side's image ids; every image must be there."""
    from gantry import shell

    env = docker_env(docker_host)
    proc = subprocess.run(["sh", "-c", shell.render(image_ids(images))], capture_output=True, text=True, env=env,
                          timeout=120)
    ids = parse_image_ids(proc.stdout)
    missing = [ref for ref in images if ref not in ids]
    if missing:
        raise ConfigError(f"{source}: images.transfer", f"{', '.join(missing)} not found in "
                          f"{engine_name(docker_host)} (images are sent from there to the hosts)",
                          "run `gantry build`, or docker pull/load the image there, or point images.docker_host "
                          "(or DOCKER_HOST) at the engine that has it")
    return ids


class Shipper:
    """Sends the images a host lacks; one instance per deploy, called from every host's thread."""

    def __init__(self, docker_host: str, source: str, say: Callable[[str], None] = lambda text: None) -> None:
        self.docker_host, self.source, self.say = docker_host, source, say
        self._ids: dict[str, str] = {}
        self._lock = threading.Lock()

    def wanted(self, images: Sequence[str]) -> dict[str, str]:
        with self._lock:
            todo = [ref for ref in images if ref not in self._ids]
            if todo:
                self._ids.update(local_ids(todo, self.docker_host, self.source))
            return {ref: self._ids[ref] for ref in images}

    def __call__(self, conn: HostConnection, images: Sequence[str]) -> list[str]:
        """Send what conn's host lacks, verify it by id; returns the refs sent."""
        wanted = self.wanted(images)
        host = conn.target.label
        send = to_send(wanted, parse_image_ids(conn.run(image_ids(images), step="ship").stdout))
        if not send:
            self.say(f"{host}: ship: all {len(images)} image(s) present, nothing sent")
            return []
        save = subprocess.Popen(["docker", "save", *send], stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                                stderr=subprocess.PIPE, env=docker_env(self.docker_host))
        out, errs = save.stdout, save.stderr  # both pipes exist: PIPE was asked for
        try:
            loaded = conn.run(load_images(), step="ship", stdin=out, check=False)  # type: ignore[arg-type]
        finally:
            out.close()  # type: ignore[union-attr]  # a save still writing gets EPIPE and exits
            err = errs.read().decode(errors="replace").strip()  # type: ignore[union-attr]
            code = save.wait()
        if code:
            raise HostError(host, "ship", f"docker save failed on the deploying side (exit {code}): {err}",
                            f"check {engine_name(self.docker_host)}")
        if not loaded.ok:
            tail = (loaded.stderr.strip() or loaded.stdout.strip()).splitlines()[-4:]
            raise HostError(host, "ship", f"docker load failed (exit {loaded.exit_code}): {' '.join(tail)}",
                            "check the host's free disk space and its engine")
        after = parse_image_ids(conn.run(image_ids(send), step="ship").stdout)
        wrong = [ref for ref in send if after.get(ref) != wanted[ref]]
        if wrong:
            raise HostError(host, "ship", f"after docker load, {', '.join(wrong)} has another image id than "
                            "the deploying side's", "retry the deploy; if it persists, compare `docker image "
                            "inspect` on both sides")
        self.say(f"{host}: ship: sent {', '.join(send)} (docker save | docker load), ids verified")
        return send
