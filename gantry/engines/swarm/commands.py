"""Swarm commands as data: argv tuples (and scripts joining them) run on a manager; quoted only by gantry.shell.

The manager keeps Gantry's own state in the hosts engine's layout (`<deploy_path>/<project>/<env>/`: lock,
deploys.jsonl, releases/<id>/ with the bundle plus `stack.yml`), so lock, audit and release commands are the
hosts engine's. Docker's own state is read as JSON (`--format json`, `inspect`), never as progress text.
"""

from __future__ import annotations

from collections.abc import Sequence

from gantry.engines.hosts.commands import Layout, marker
from gantry.shell import Argv, Command, and_then, argv, or_else, pipe, quiet, sequence, write_to

STACK_FILE = "stack.yml"
SECRET_LABEL = "gantry.stack"  # on every Swarm secret Gantry creates: which stack it belongs to
STACK_LABEL = "com.docker.stack.namespace"  # set by `docker stack deploy` on the stack's services


def stack_file(layout: Layout, rid: str) -> str:
    return f"{layout.release(rid)}/{STACK_FILE}"


def stack_deploy(layout: Layout, rid: str, stack: str) -> Argv:
    """Deploy a release's stack file, detached (Gantry waits itself: `--detach=false` exits 0 on a rollback,
    docker/cli#6752); `--prune` removes services the release no longer has; images are already pinned."""
    return argv("docker", "stack", "deploy", "--detach=true", "--prune", "--resolve-image", "never",
                "--with-registry-auth", "--compose-file", stack_file(layout, rid), "--", stack)


def read_stack_file(layout: Layout, rid: str) -> Argv:
    return argv("cat", "--", stack_file(layout, rid))


def service_logs(service: str, lines: int) -> Argv:
    return argv("docker", "service", "logs", "--tail", str(lines), "--no-task-ids", "--", service)


def stack_logs(stack: str, lines: int) -> Command:
    """The last log lines of every service of the stack, one service after another (each line is prefixed by
    Swarm with its task's name and node)."""
    return pipe(argv("docker", "service", "ls", "--format", "{{.Name}}", "--filter", f"label={STACK_LABEL}={stack}"),
                argv("xargs", "-r", "-n", "1", "docker", "service", "logs", "--tail", str(lines), "--no-task-ids",
                     "--"))


def write_stack_file(layout: Layout, rid: str, text: str) -> Command:
    """The stack file (no secret values in it) beside the release's bundle, written under a temporary name."""
    path = stack_file(layout, rid)
    return and_then(write_to(argv("printf", "%s", text), f"{path}.tmp"), argv("mv", "-f", f"{path}.tmp", path))


def secret_create(name: str, stack: str) -> Argv:
    """Create one Swarm secret; its value comes on stdin (never in an argv)."""
    return argv("docker", "secret", "create", "--label", f"{SECRET_LABEL}={stack}", "--", name, "-")


def secret_ls(stack: str) -> Argv:
    return argv("docker", "secret", "ls", "--filter", f"label={SECRET_LABEL}={stack}", "--format", "json")


def secret_rm(names: Sequence[str]) -> Argv:
    return argv("docker", "secret", "rm", "--", *names)


def service_ls(stack: str) -> Argv:
    return argv("docker", "service", "ls", "--filter", f"label={STACK_LABEL}={stack}", "--format", "json")


def service_inspect(stack: str) -> Command:
    """Every service of the stack as `docker service inspect` JSON (an empty stack prints nothing)."""
    return pipe(argv("docker", "service", "ls", "-q", "--filter", f"label={STACK_LABEL}={stack}"),
                argv("xargs", "-r", "docker", "service", "inspect", "--"))


def service_ps(service: str) -> Argv:
    return argv("docker", "service", "ps", "--no-trunc", "--format", "json", "--", service)


def task_inspect(stack: str) -> Command:
    """Every task of the stack (the history Swarm keeps too) as `docker inspect` JSON."""
    return pipe(argv("docker", "stack", "ps", "-q", "--no-trunc", "--", stack),
                argv("xargs", "-r", "docker", "inspect", "--type", "task", "--"))


def service_reconcile(service: str) -> Argv:
    """A new update of the same spec (`--force`: Swarm ignores an update to the spec its stuck updater already
    works towards): the updater starts over, rolling every slot in the service's own order (verdict.leftovers)."""
    return argv("docker", "service", "update", "--detach", "--force", "--no-resolve-image", "--", service)


def scale_to_zero(services: Sequence[str]) -> Argv:
    return argv("docker", "service", "scale", "--detach", "--", *(f"{s}=0" for s in services))


def node_ls() -> Argv:
    return argv("docker", "node", "ls", "--format", "json")


def node_inspect() -> Command:
    return pipe(argv("docker", "node", "ls", "-q"), argv("xargs", "-r", "docker", "node", "inspect", "--"))


def swarm_info() -> Argv:
    """This engine's swarm membership (`{{json .Swarm}}` always exists, so the template cannot break)."""
    return argv("docker", "info", "--format", "{{json .Swarm}}")


def resolve_images(images: Sequence[str]) -> Command:
    """Pull each image on the manager, then print their RepoDigests (parsed by the hosts
    engine's facts.parse_image_digests)."""
    pulls = [argv("docker", "pull", "-q", "--", image) for image in images]
    return and_then(*pulls, argv("docker", "image", "inspect", "--format", "{{json .RepoTags}} "
                                 "{{json .RepoDigests}}", "--", *images))


def state(stack: str) -> Command:
    """Read-only, one round trip: the manager's clock, swarm membership, nodes, services and tasks."""
    return sequence(
        marker("clock"), argv("date", "+%s.%N"),
        marker("swarm"), quiet(swarm_info()),
        marker("nodes"), quiet(node_inspect()),
        marker("services"), quiet(service_inspect(stack)),
        marker("tasks"), quiet(task_inspect(stack)),
        marker("secrets"), or_else(quiet(secret_ls(stack)), argv("true")),
        marker("end"),
    )
