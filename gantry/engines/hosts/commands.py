"""Remote commands as data: pure functions returning argv tuples (or scripts joining them).

The release directory's own argvs (its layout, upload, verify, switch, prune, audit, lock) are in layout.py and
re-exported here, so callers name every argv `commands.X`.
"""

from __future__ import annotations

import re
from collections.abc import Sequence

from gantry.engines.hosts.layout import (  # noqa: F401 - re-exported: `commands.X` is the one namespace
    MARK,
    PINNED_FILE,
    RELEASE_FILES,
    Layout,
    _child,
    acquire_lock,
    append_audit,
    finish,
    marker,
    read_audit,
    receive_bundle,
    record_and_switch,
    release_files,
    release_lock,
    remove_releases,
    switch_current,
    verify_release,
    write_file_atomic,
)
from gantry.shell import (
    Argv,
    Command,
    and_then,
    argv,
    or_else,
    pipe,
    quiet,
    sequence,
    write_to,
)

SERVICE_NAME = re.compile(r"[a-zA-Z0-9._][a-zA-Z0-9._-]*\Z")  # Compose's pattern, minus a leading '-'


def facts(layout: Layout, project: str) -> Command:
    """Read-only: live release, kept releases, lock holder and the project's containers."""
    return sequence(
        marker("current"), quiet(argv("readlink", layout.current)),
        marker("releases"), quiet(argv("ls", "-1", layout.releases)),
        marker("lock"), quiet(argv("cat", layout.lock_info)),
        marker("ps"), containers_brief(project),
        marker("end"),
    )


def facts_and_lock(layout: Layout, project: str, info_json: str, *, preflight: bool = True,
                   images: Sequence[str] = ()) -> Command:
    """One round trip: observe the host (and, for a host about to change, its engine and the USER and
    HEALTHCHECK of the release's images it already has), then take the lock."""
    checks: tuple[Command, ...] = (host_preflight(layout),) if preflight else ()
    if preflight and images:
        checks += (marker("image-config"), quiet(image_config(images)), marker("image-config-end"))
    return sequence(read_live(layout, project), *checks,
                    or_else(acquire_lock(layout, info_json), marker("lock-busy")))


def compose(project: str, layout: Layout, rid: str, *args: str, pinned: bool = False) -> Argv:
    """`docker compose` on a release: its compose.yaml, or with pinned the host's pinned copy of it (relative
    paths resolve against the release's directory alike: it is the project directory)."""
    rel = layout.release(rid)
    return argv("docker", "compose", "-p", project, "--project-directory", rel,
                "-f", layout.pinned if pinned else f"{rel}/compose.yaml", "--env-file", f"{rel}/.env", *args)


def compose_pull(project: str, layout: Layout, rid: str, *, pinned: bool = False) -> Argv:
    return compose(project, layout, rid, "pull", "--quiet", "--policy", "missing", pinned=pinned)


def compose_up(project: str, layout: Layout, rid: str, *, pinned: bool = False) -> Argv:
    return compose(project, layout, rid, "up", "-d", "--remove-orphans", "--no-build", "--quiet-pull", pinned=pinned)


def pinned_header(rid: str) -> str:
    """The first line of the pinned copy: which release it pins (drift uses the copy only for that release)."""
    return f"# pinned copy of release {_child('releases', rid).rsplit('/', 1)[1]}\n"


def write_pinned(layout: Layout) -> Command:
    """Write the pinned copy (pinned_header + release.pinned_compose) from stdin: to a temporary name, then
    renamed. The release's own files are never touched, so its hashes still verify."""
    path = layout.pinned
    return and_then(write_to(argv("cat"), f"{path}.tmp"), argv("mv", "-f", "--", f"{path}.tmp", path))


def pull_and_up(project: str, layout: Layout, rid: str, images: Sequence[str], *, first_poll: bool = False,
                pinned: bool = False) -> Command:
    """One round trip: pull only when an image is missing (asking the engine is far cheaper than a
    `compose pull`), `up -d`, then print the images' digests for the manifest (and, with first_poll, the
    health wait's first poll). Host clock readings between the parts time them for the timeline.

    With pinned, the release's pinned copy is brought up; without, a pinned copy left by an earlier rollback
    is removed first, so one is present exactly while the release runs from it (drift reads that)."""
    have = quiet(write_to(argv("docker", "image", "inspect", "--format", "{{.Id}}", "--", *images), "/dev/null"))
    pull = compose_pull(project, layout, rid, pinned=pinned)
    pull = or_else(have, pull) if images else pull
    steps: list[Command] = [marker("t0"), host_time(), *clock("clock-start"), pull, *clock("clock-pulled"),
                            compose_up(project, layout, rid, pinned=pinned), marker("up-done"), *clock("clock-up")]
    if not pinned:
        steps.insert(0, argv("rm", "-f", "--", layout.pinned))
    if images:
        steps += [marker("images"), quiet(image_digests(images))]
    if first_poll:  # the health wait's first poll, in the same round trip
        steps.append(health_poll(project))
    return and_then(*steps)


def compose_stop(project: str, layout: Layout, rid: str, services: Sequence[str] = ()) -> Argv:
    return compose(project, layout, rid, "stop", *(("--", *services) if services else ()))


def compose_logs(project: str, lines: int, service: str | None = None) -> Argv:
    """The last log lines of the project's containers (of one service)."""
    return argv("docker", "compose", "-p", project, "logs", "--no-color", "--tail", str(lines),
                *(("--", service) if service else ()))


PS_FORMAT = ('{"ID":{{json .ID}},"Name":{{json .Names}},"Project":{{json (.Label "com.docker.compose.project")}},'
             '"Service":{{json (.Label "com.docker.compose.service")}},'
             '"State":{{json .State}},"Status":{{json .Status}},"Ports":{{json .Ports}}}')


def _project_filter(project: str) -> tuple[str, ...]:
    return ("--filter", f"label=com.docker.compose.project={project}",
            "--filter", "label=com.docker.compose.oneoff=False")


def containers_brief(project: str) -> Argv:
    """Every container of the project, one JSON line each, from a single `docker ps` (the cheapest read:
    health comes from the status text, without restart counts)."""
    return argv("docker", "ps", "--all", "--no-trunc", *_project_filter(project), "--format", PS_FORMAT)


def containers(project: str) -> Command:
    """Every container of the project as `docker inspect` JSON (parsed by facts.parse_inspect).

    Plain JSON, not a `--format` template: a template that names a field a container lacks (20.10 has no
    `State.Health` without a healthcheck) fails and prints nothing for the other containers.
    `docker ps | docker inspect` rather than `docker compose ps`: each `docker compose` call starts the
    CLI and the compose plugin twice, which on a busy host costs several times as much.
    """
    return pipe(argv("docker", "ps", "--all", "--quiet", "--no-trunc", *_project_filter(project)),
                argv("xargs", "-r", "docker", "inspect", "--type", "container"))


def health_poll(project: str) -> Command:
    """One round trip per poll: the host's clock, then the full state of every container.

    The clock is read before the containers: a container seen running has run at least from its
    StartedAt to that time, so the settle period is never judged longer than it was."""
    return sequence(*clock("now"), marker("ps"), containers(project), marker("end"))


def kill_events(project: str, since: int) -> Argv:
    """The project's `kill` events since a host time (epoch seconds), one JSON line each; a SIGKILL
    after a SIGTERM means a container sat out its whole stop timeout."""
    return argv("docker", "events", "--since", str(since), "--until", "0s", "--filter", "type=container",
                "--filter", "event=kill", "--filter", f"label=com.docker.compose.project={project}",
                "--format", "{{json .}}")


def host_time() -> Argv:
    return argv("date", "+%s")


def clock(name: str) -> tuple[Argv, Argv]:
    """A section holding the host's clock in seconds with a fraction (GNU date; parsed by facts.parse_clock)."""
    return marker(name), argv("date", "+%s.%N")


def inspect_health(containers: Sequence[str]) -> Argv:
    return argv("docker", "inspect", "--format", "{{.Name}} {{json .State}}", "--", *containers)


def container_logs(container: str, lines: int = 20) -> Argv:
    return argv("docker", "logs", "--tail", str(lines), "--", container)


def image_digests(images: Sequence[str]) -> Argv:
    """One line per image: its tags and its registry digests (parsed by facts.parse_image_digests)."""
    return argv("docker", "image", "inspect", "--format", "{{json .RepoTags}} {{json .RepoDigests}}", "--", *images)


def image_config(images: Sequence[str]) -> Argv:
    """The USER and HEALTHCHECK baked into each image present on the host (absent ones print nothing)."""
    return argv("docker", "image", "inspect", "--format",
                "{{json .RepoTags}} {{json .Config.User}} {{json .Config.Healthcheck}}", "--", *images)


def _existing_parent(path: str) -> str:
    """The deploy path's top directory, which exists before the first deploy (df needs an existing path)."""
    top = "/" + path.strip("/").split("/", 1)[0]
    return top if top != "/" else "/"


def legacy_project(layout: Layout) -> str:
    """The compose project name Gantry gave this project+environment before names were made injective
    (`{project}-{env}`), when it differs from today's (env names with '-'; config.compose_project_name); ''."""
    project, env = layout.base.rsplit("/", 2)[1:]
    return f"{project}-{env}" if "-" in env else ""


LEGACY_FORMAT = '{{.Names}} {{.Label "com.docker.compose.project.working_dir"}}'


def legacy_containers(layout: Layout) -> tuple[Command, ...]:
    """A section listing the containers of the legacy project name made from this base's releases (their
    project directory is one): this environment's old copy. Nothing when the name did not change; another
    environment that has that name today (project `a-b`, env `c` for `a`, `b-c`) is not listed."""
    old = legacy_project(layout)
    if not old:
        return ()
    ps = argv("docker", "ps", "--all", "--filter", f"label=com.docker.compose.project={old}", "--format", LEGACY_FORMAT)
    return marker("legacy"), quiet(pipe(ps, argv("grep", "-F", "-e", f" {layout.releases}/")))


def host_preflight(layout: Layout) -> Command:
    """Engine security options, engine and compose versions (one `docker info`), free disk, and the containers
    of this environment's legacy project name."""
    info = ("{{json .SecurityOptions}} {{.ServerVersion}} "
            '{{range .ClientInfo.Plugins}}{{if eq .Name "compose"}}{{.Version}}{{end}}{{end}}')
    return sequence(
        marker("info"), argv("docker", "info", "--format", info),
        # The deploy path itself once it exists (it may be its own mount), else its top directory.
        marker("df"), or_else(quiet(argv("df", "-Pk", layout.base)),
                              quiet(argv("df", "-Pk", _existing_parent(layout.base)))),
        *legacy_containers(layout),
        marker("preflight-end"),
    )


def _live_compose(layout: Layout) -> Command:
    """The live release's compose file, under the `live-compose` marker (readouts.live_compose)."""
    return sequence(marker("live-compose"), quiet(argv("cat", f"{layout.current}/compose.yaml")))


def read_live(layout: Layout, project: str) -> Command:
    """Read-only: the facts plus the live release's compose file and manifest (for a plan)."""
    return sequence(
        facts(layout, project),
        _live_compose(layout),
        marker("live-manifest"), quiet(argv("cat", f"{layout.current}/manifest.json")),
        marker("live-end"),
    )


def with_live_compose(layout: Layout, cmd: Command) -> Command:
    """Read-only, for `logs --service`: the live release's compose file (does it have the service?), then
    what cmd prints, after the `logs` marker, as it prints it."""
    return sequence(_live_compose(layout), marker("logs"), cmd)


def drift_details(project: str, layout: Layout, rid: str) -> Command:
    """Read-only, for `drift`: the release's own config hashes, each container's labels and image, and the
    registry digests of the images the containers run."""
    ids = argv("docker", "ps", "--all", "--quiet", "--no-trunc", *_project_filter(project))
    return sequence(
        # the config the containers were made from: the pinned copy while the release runs from it
        marker("config-hash"), or_else(and_then(quiet(argv("grep", "-qxF", "-e", pinned_header(rid).strip(),
                                                            "--", layout.pinned)),
                                                quiet(compose(project, layout, rid, "config", "--hash", "*",
                                                              pinned=True))),
                                       quiet(compose(project, layout, rid, "config", "--hash", "*"))),
        marker("containers"), pipe(ids, argv("xargs", "-r", "docker", "inspect", "--format",
                                             "{{json .Name}} {{json .Image}} {{json .Config.Labels}}")),
        marker("images"), pipe(ids, argv("xargs", "-r", "docker", "inspect", "--format", "{{.Image}}"),
                               argv("sort", "-u"),
                               argv("xargs", "-r", "docker", "image", "inspect", "--format",
                                    "{{json .Id}} {{json .RepoDigests}}")),
        marker("drift-end"),
    )


def exec_in_service(project: str, layout: Layout, rid: str, service: str, cmd: Sequence[str]) -> Argv:
    """Run cmd in the service's running container of release rid (it has the release's environment)."""
    return compose(project, layout, rid, "exec", "-T", "--", service, *cmd)


def shell_in_service(project: str, layout: Layout, rid: str, service: str, cmd: Sequence[str] = ("sh",)) -> Argv:
    """An interactive command (a shell) in the service's running container of release rid, on a TTY."""
    return compose(project, layout, rid, "exec", "--", service, *cmd)


def read_status(layout: Layout, project: str) -> Command:
    """Read-only, for `status`: the facts and the files of every kept release."""
    return sequence(facts(layout, project), release_files(layout))


def read_releases(layout: Layout, project: str) -> Command:
    """Read-only, for `releases`: the facts, then (after an `audit` marker) the audit log."""
    return sequence(facts(layout, project), marker("audit"), read_audit(layout))
