"""The deploying side's Docker Engine: the one `gantry build` builds on and `transfer: ssh` sends images from.

It is `images.build_host` (a build server named like a host: address, user, port, identity_file), else
`images.docker_host`, else the process's DOCKER_HOST, else the local engine. A build host is reached by the
docker CLI's own SSH transport (DOCKER_HOST=ssh://user@address:port), with the `ssh` it runs pinned to what
a deploy host gets: the environment's known_hosts only, strict host keys, the host's identity_file only, no
ssh_config, no prompts. Before the CLI runs, Gantry's own connection checks the host key (the same errors and
exit code 4 as a deploy host), so a changed or unknown key never gets as far as the docker CLI.
"""

from __future__ import annotations

import atexit
import os
import shutil
import tempfile
from collections.abc import Mapping
from dataclasses import dataclass

from gantry.errors import ConfigError
from gantry.remote.executor import HostConnection, Target
from gantry.shell import Argv, argv, render


@dataclass(frozen=True)
class DockerSide:
    """How the local docker CLI reaches the engine: DOCKER_HOST, and a directory put first on PATH (its `ssh`)."""

    docker_host: str = ""
    path_dir: str = ""
    label: str = ""  # the build host's name, for messages

    def env(self, environ: Mapping[str, str] | None = None) -> dict[str, str]:
        env = dict(os.environ if environ is None else environ)
        if self.docker_host:
            env["DOCKER_HOST"] = self.docker_host
        if self.path_dir:
            env["PATH"] = os.pathsep.join(p for p in (self.path_dir, env.get("PATH", "")) if p)
        return env

    def name(self, environ: Mapping[str, str] | None = None) -> str:
        where = self.env(environ).get("DOCKER_HOST") or "the local Docker Engine"
        return f"build host {self.label} ({where})" if self.label else where


def ssh_url(target: Target) -> str:
    host = f"[{target.address}]" if ":" in target.address else target.address
    return f"ssh://{target.user}@{host}:{target.port}"


def pinned_ssh(ssh: str, target: Target) -> Argv:
    """The ssh the docker CLI runs for a build host: only the environment's known_hosts, strict keys,
    only the host's identity (when it names one), no ssh_config, never a prompt."""
    known = os.path.abspath(os.path.expanduser(target.known_hosts or "~/.ssh/known_hosts"))
    words = [ssh, "-F", "/dev/null", "-o", "BatchMode=yes", "-o", "StrictHostKeyChecking=yes",
             "-o", f"UserKnownHostsFile={known}", "-o", "GlobalKnownHostsFile=/dev/null",
             "-o", "UpdateHostKeys=no", "-o", f"ConnectTimeout={max(1, int(target.connect_timeout))}"]
    if target.identity_file:
        words += ["-o", "IdentitiesOnly=yes", "-i", os.path.abspath(os.path.expanduser(target.identity_file))]
    return argv(*words)


def wrapper_script(ssh: Argv) -> str:
    return f'#!/bin/sh\nexec {render(ssh)} "$@"\n'


def over_ssh(target: Target, source: str) -> DockerSide:
    """The build host's engine, after Gantry's own connection checked its host key (HostKeyError: exit 4)."""
    ssh = shutil.which("ssh")
    if not ssh:
        raise ConfigError(f"{source}: images.build_host", "needs the OpenSSH client (ssh) on the deploying side",
                          "install it (apt-get install openssh-client)")
    with HostConnection(target):
        pass
    path_dir = tempfile.mkdtemp(prefix="gantry-ssh-")  # 0700
    atexit.register(shutil.rmtree, path_dir, True)
    script = os.path.join(path_dir, "ssh")
    fd = os.open(script, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW, 0o700)
    with os.fdopen(fd, "w") as out:
        out.write(wrapper_script(pinned_ssh(ssh, target)))
    return DockerSide(ssh_url(target), path_dir, target.label)


def docker_side(images, ssh_settings, source: str) -> DockerSide:
    """The environment's `images:` -> the engine (connects to check a build host's key)."""
    if images.build_host is not None:
        return over_ssh(Target.of(images.build_host, ssh_settings), source)
    return DockerSide(images.docker_host)
