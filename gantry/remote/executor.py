"""Fabric connections: the only network code in Gantry.

One `HostConnection` per host is opened once and reused for every command of a deploy. Host keys
are checked strictly: paramiko's RejectPolicy plus the configured known_hosts file, set before the
first connect (Fabric's default accepts any key). Commands run on a plain exec channel of the
connection's transport, rendered by `gantry.shell` and never echoed with secret words unmasked;
stdin carries file content (a tar of the release) so secrets never enter a command line.
"""

from __future__ import annotations

import functools
import os
import select
import socket
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import BinaryIO, TextIO

import paramiko
import tenacity
from fabric import Config, Connection
from paramiko.ssh_exception import NoValidConnectionsError

from gantry.errors import ConfigError, HostError, HostKeyError, UnreachableError
from gantry.shell import Command, display, render
from gantry.yamlio import read_text

TRANSIENT = (NoValidConnectionsError, socket.timeout, TimeoutError, ConnectionResetError,
             ConnectionRefusedError, EOFError)


@dataclass(frozen=True)
class Target:
    """Where and how to reach one host."""

    label: str
    address: str
    user: str
    port: int
    identity_file: str
    known_hosts: str
    connect_timeout: float
    command_timeout: float
    connect_retries: int

    @classmethod
    def of(cls, host, ssh) -> Target:
        """A config host entry (address, name, user, port, identity_file) under the environment's `ssh:`."""
        return cls(host.label, host.address, host.user, host.port, host.identity_file, ssh.known_hosts,
                   ssh.connect_timeout, ssh.command_timeout, ssh.connect_retries)


@dataclass(frozen=True)
class Result:
    stdout: str
    stderr: str
    exit_code: int

    @property
    def ok(self) -> bool:
        return self.exit_code == 0


class HostConnection:
    """A context manager around one SSH connection: run(cmd), close()."""

    def __init__(self, target: Target, *, echo: Callable[[str, str], None] | None = None) -> None:
        self.target = target
        self.echo = echo  # (host, displayed command) for --verbose; secrets masked
        self.round_trips = 0
        kwargs: dict = {"allow_agent": True, "look_for_keys": True}
        if target.identity_file:
            kwargs = {"key_filename": [os.path.expanduser(target.identity_file)], "allow_agent": False,
                      "look_for_keys": False}
        self._conn = Connection(target.address, user=target.user, port=target.port, config=_config_for_a_connection(),
                                connect_timeout=max(1, int(target.connect_timeout)), connect_kwargs=kwargs)
        client = self._conn.client
        client.set_missing_host_key_policy(paramiko.RejectPolicy())
        known = Path(os.path.expanduser(target.known_hosts or "~/.ssh/known_hosts"))
        # Only this host's entries: parsing the file once per run, not once per host, and no other
        # host's key can ever match this connection.
        mine = _known_hosts(str(known)).lookup(target.address if target.port == 22 else
                                               f"[{target.address}]:{target.port}")
        for key_type, key in (mine or {}).items():
            client.get_host_keys().add(target.address if target.port == 22 else f"[{target.address}]:{target.port}",
                                       key_type, key)
        self._known = known

    def __enter__(self) -> HostConnection:
        self.open()
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def open(self) -> None:
        if self._conn.is_connected:
            return
        retry = tenacity.Retrying(
            retry=tenacity.retry_if_exception_type(TRANSIENT),
            stop=tenacity.stop_after_attempt(max(1, self.target.connect_retries)),
            wait=tenacity.wait_exponential(multiplier=0.2, max=2),
            reraise=True,
        )
        t = self.target
        try:
            retry(self._conn.open)
        except paramiko.BadHostKeyException as exc:
            raise HostKeyError(
                t.label, "connect",
                f"the host key of {t.address} has CHANGED from the one in {self._known} (it now offers "
                f"{exc.key.get_name()} {exc.key.fingerprint}, known: {exc.expected_key.fingerprint}); "
                "refusing to connect",
                "if the host was rebuilt, verify its new key out of band, then replace its line in "
                f"{self._known} (ssh-keygen -R {t.address} -f {self._known})") from None
        except paramiko.AuthenticationException:
            raise UnreachableError(
                t.label, "connect", f"authentication failed for {t.user}@{t.address}:{t.port}",
                "check the host's user and identity_file in the environment config") from None
        except paramiko.SSHException as exc:
            if "known_hosts" in str(exc):
                raise HostKeyError(
                    t.label, "connect", f"{t.address} is not in {self._known}; its key was not accepted",
                    f"verify the host's key fingerprint, then add it: ssh-keyscan -p {t.port} {t.address} "
                    f">> {self._known}") from None
            raise UnreachableError(t.label, "connect", f"SSH error: {exc}",
                                   "check that sshd runs on the host and the port is right") from None
        except (OSError, *TRANSIENT) as exc:
            reason = getattr(exc, "strerror", None) or str(exc) or type(exc).__name__
            raise UnreachableError(
                t.label, "connect",
                f"cannot reach {t.address}:{t.port} ({reason}) after {t.connect_retries} attempts",
                "check the address, the network and that sshd is running") from None

    @property
    def is_open(self) -> bool:
        return bool(self._conn.is_connected)

    def close(self) -> None:
        self._conn.close()

    def run(self, cmd: Command, *, step: str, stdin: bytes | BinaryIO | None = None, timeout: float | None = None,
            check: bool = True) -> Result:
        """Run one command; a non-zero exit raises HostError(step) unless check=False.

        stdin is bytes, or a binary stream sent in chunks (an image archive: too big for memory)."""
        self.open()
        if self.echo:
            self.echo(self.target.label, display(cmd))
        transport = self._conn.transport
        try:
            chan = transport.open_session(timeout=self.target.connect_timeout)
            chan.exec_command(render(cmd))
            if isinstance(stdin, bytes):
                chan.sendall(stdin)
            elif stdin is not None:
                while chunk := stdin.read(1 << 20):
                    chan.sendall(chunk)
            chan.shutdown_write()
            out, err = _drain(chan, timeout or self.target.command_timeout)
            code = chan.recv_exit_status()
            chan.close()
            if code == -1:  # the channel closed without an exit status: the connection dropped mid-command
                raise EOFError("the channel closed before the command exited")
        except TimeoutError as exc:
            raise HostError(self.target.label, step, str(exc),
                            "raise ssh.command_timeout in the environment config") from None
        except (paramiko.SSHException, OSError, EOFError) as exc:
            raise UnreachableError(self.target.label, step, f"connection lost: {exc or type(exc).__name__}",
                                   "check the host; the deploy lock may still be held there") from None
        self.round_trips += 1
        result = Result(out.decode(errors="replace"), err.decode(errors="replace"), code)
        if check and not result.ok:
            tail = (result.stderr.strip() or result.stdout.strip()).splitlines()[-8:]
            raise HostError(self.target.label, step, f"failed with exit code {code}" +
                            ("".join(f"\n    {line}" for line in tail)))
        return result


    def interactive(self, cmd: Command, *, step: str, out: TextIO | None = None) -> int:
        """Run cmd on a pty through Fabric, wired to this process's terminal; returns its exit code.

        Fabric puts a local TTY in character-buffered mode and forwards every key (and the window size);
        no environment is sent, so nothing secret enters the command line. The pty's output (stdout and
        stderr are one stream on a pty) goes to `out` (a masking writer), else to this process's stdout.
        """
        self.open()
        if self.echo:
            self.echo(self.target.label, display(cmd))
        try:
            result = self._conn.run(render(cmd), pty=True, warn=True, hide=False, echo=False, env={},
                                    out_stream=out, err_stream=out)
        except (paramiko.SSHException, OSError, EOFError) as exc:
            raise UnreachableError(self.target.label, step, f"connection lost: {exc or type(exc).__name__}",
                                   "check the host and try again") from None
        self.round_trips += 1
        return int(result.exited)


@functools.lru_cache(maxsize=1)
def _fabric_config() -> Config:
    """One Fabric config for every connection (ssh_config files are not read: the environment file says it all)."""
    return Config(overrides={"load_ssh_configs": False})


_CONFIG_LOCK = threading.Lock()


def _config_for_a_connection() -> Config:
    """A connection's own copy of the one config: Invoke's config objects are not safe to share between the
    threads of a fan-out (a read during another thread's lazy merge raised KeyError 'authentication')."""
    with _CONFIG_LOCK:
        return _fabric_config().clone()


KNOWN_HOSTS_LIMIT = 64 << 20  # a fleet's known_hosts can be far larger than a config file


@functools.lru_cache(maxsize=8)
def _known_hosts(path: str) -> paramiko.HostKeys:
    """A known_hosts file, parsed once per run (an empty set when it does not exist).

    A line that is not `names keytype base64-key` is an error naming the file and line, never its text
    (the path may name any file, e.g. by mistake /etc/passwd or a secrets file).
    """
    keys = paramiko.HostKeys()
    if not os.path.lexists(path):
        return keys
    for number, raw in enumerate(read_text(path, path, limit=KNOWN_HOSTS_LIMIT).splitlines(), 1):
        line = raw.strip()
        if not line or line.startswith(("#", "@")):  # comments; @cert-authority/@revoked are not used here
            continue
        try:
            entry = paramiko.hostkeys.HostKeyEntry.from_line(line, number)
        except Exception:  # noqa: BLE001 - paramiko raises several kinds, all carrying the line's text
            entry = None
        if entry is None:
            raise ConfigError(f"{path}:{number}", "is not a known_hosts line (host names, key type, base64 key)",
                              "fix or remove that line; check ssh.known_hosts in the environment file")
        if entry.key is not None:
            for name in entry.hostnames:
                keys.add(name, entry.key.get_name(), entry.key)
    return keys


def _drain(chan: paramiko.Channel, timeout: float) -> tuple[bytes, bytes]:
    out, err = bytearray(), bytearray()
    deadline = time.monotonic() + timeout
    while True:
        while chan.recv_ready():
            out += chan.recv(65536)
        while chan.recv_stderr_ready():
            err += chan.recv_stderr(65536)
        if chan.exit_status_ready() and not chan.recv_ready() and not chan.recv_stderr_ready():
            if chan.closed or chan.eof_received:
                break
        remaining = deadline - time.monotonic()
        if remaining <= 0:
            chan.close()
            raise TimeoutError(f"did not finish within {timeout:.0f} s")
        select.select([chan], [], [], min(remaining, 1.0))
    return bytes(out), bytes(err)
