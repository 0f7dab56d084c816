"""Remote commands of the blue/green engine as data (argvs; quoted only by gantry.shell).

Host layout, beside the hosts engine's (`<deploy_path>/<project>/<env>/`):
  views/<view>/releases/<id>/compose.yaml   the release split (documents.py) into views base, blue and green,
                          each with `.env` linked to the release's own: the hosts engine's commands run on a
                          view as on any release directory (`view_layout`)
  proxy/compose.yaml      the proxy's compose project
  proxy/config/caddy.json the proxy's config (the directory is mounted read-only at /config)
  proxy/state.json        the live colour and release, written after the proxy took the switch
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

from gantry.engines.bluegreen.documents import ADMIN, CONFIG_DIR, MIGRATE_SYSCTL, colour_project, proxy_project
from gantry.engines.hosts.commands import Layout, marker, write_file_atomic
from gantry.shell import Argv, Command, and_then, argv, or_else, quiet, sequence

BASE_FILE = "base.yaml"
UP_FLAGS = ("up", "-d", "--remove-orphans", "--no-build", "--quiet-pull")


@dataclass(frozen=True)
class ProxyLayout:
    """The proxy's paths under a host's environment directory."""

    layout: Layout

    @property
    def dir(self) -> str:
        return f"{self.layout.base}/proxy"

    @property
    def compose(self) -> str:
        return f"{self.dir}/compose.yaml"

    @property
    def config_dir(self) -> str:
        return f"{self.dir}/config"

    @property
    def config(self) -> str:
        return f"{self.config_dir}/caddy.json"

    @property
    def state(self) -> str:
        return f"{self.dir}/state.json"


VIEWS = ("base", "blue", "green")


def view_layout(layout: Layout, view: str) -> Layout:
    """Where a view of the releases lives: `views/<view>/releases/<id>/` mirrors the hosts engine's layout."""
    if view not in VIEWS:
        raise ValueError(f"not a view: {view!r}")
    return Layout(f"{layout.base}/views/{view}")


def write_views(layout: Layout, rid: str, documents: Mapping[str, str]) -> Command:
    """Write a kept release's split documents (no secret in them: values stay `${NAME}`), each in its view's
    release directory (0700) beside a link to the release's .env."""
    rel = layout.release(rid)
    steps: list[Command] = [argv("test", "-f", f"{rel}/.env")]
    for view, text in sorted(documents.items()):
        target = view_layout(layout, view).release(rid)
        steps += [argv("mkdir", "-p", "-m", "0700", target), write_file_atomic(f"{target}/compose.yaml", text),
                  argv("ln", "-sfn", f"{rel}/.env", f"{target}/.env")]
    return and_then(*steps)


def remove_views(layout: Layout, rids: tuple[str, ...]) -> Argv:
    """The views of pruned releases."""
    return argv("rm", "-rf", "--", *(view_layout(layout, v).release(r) for r in rids for v in VIEWS))


def colour_remove(project: str, colour: str, timeout: int) -> Argv:
    """Remove a colour's containers by project label (works when its release is gone); volumes stay."""
    return argv("docker", "compose", "-p", colour_project(project, colour), "down", "--remove-orphans", "-t",
                str(timeout))


def ensure_proxy(project: str, proxy: ProxyLayout, compose_text: str, initial_config: str) -> Command:
    """Write the proxy's compose file, its first config when it has none, and start it when missing
    (`up -d` leaves a running proxy with the same compose file alone)."""
    return and_then(
        argv("mkdir", "-p", "-m", "0755", proxy.config_dir),
        write_file_atomic(proxy.compose, compose_text),
        or_else(argv("test", "-f", proxy.config), write_file_atomic(proxy.config, initial_config)),
        argv("chmod", "0644", proxy.config),
        argv("docker", "compose", "-p", proxy_project(project), "-f", proxy.compose, *UP_FLAGS),
    )


def reload_proxy(project: str, proxy: ProxyLayout) -> Argv:
    """Caddy's admin API: `caddy reload` POSTs the config file to /load (an atomic, graceful replacement)."""
    return argv("docker", "compose", "-p", proxy_project(project), "-f", proxy.compose, "exec", "-T", "proxy",
                "caddy", "reload", "--config", f"{CONFIG_DIR}/caddy.json", "--address", ADMIN)


def switch_proxy(project: str, proxy: ProxyLayout, config_text: str, state_text: str) -> Command:
    """Point the proxy at a colour: new config, reload through the admin API, then record the live colour."""
    return and_then(
        write_file_atomic(proxy.config, config_text),
        argv("chmod", "0644", proxy.config),
        reload_proxy(project, proxy),
        write_file_atomic(proxy.state, state_text),
    )


# `docker ps` rows with the labels a colour carries (parsed by bluegreen.facts; unknown keys are ignored)
PS_FORMAT = ('{"ID":{{json .ID}},"Name":{{json .Names}},"Project":{{json (.Label "com.docker.compose.project")}},'
             '"Service":{{json (.Label "com.docker.compose.service")}},'
             '"State":{{json .State}},"Status":{{json .Status}},"Release":{{json (.Label "gantry.release")}}}')


def containers_of(project: str) -> Argv:
    return argv("docker", "ps", "--all", "--no-trunc", "--filter", f"label=com.docker.compose.project={project}",
                "--format", PS_FORMAT)


def facts(project: str, proxy: ProxyLayout) -> Command:
    """Read-only: the live colour, the containers of both colours and of the proxy, and whether the kernel
    has MIGRATE_SYSCTL."""
    return sequence(
        marker("bg-state"), quiet(argv("cat", proxy.state)),
        marker("bg-kernel"), quiet(argv("cat", "/proc/sys/" + MIGRATE_SYSCTL.replace(".", "/"))),
        *(part for colour in ("blue", "green")
          for part in (marker(f"bg-ps-{colour}"), containers_of(colour_project(project, colour)))),
        marker("bg-ps-proxy"), containers_of(proxy_project(project)),
        marker("bg-end"),
    )
