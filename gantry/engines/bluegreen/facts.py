"""Pure parsers of what a blue/green host runs: the live colour, both colours' containers, the proxy."""

from __future__ import annotations

import json
from dataclasses import dataclass, field

from gantry.engines.bluegreen.documents import COLOURS, LiveState, other, parse_state
from gantry.engines.hosts.facts import parse_ps, split_sections
from gantry.health import Container


@dataclass(frozen=True)
class ColourFacts:
    """One colour's containers and the releases they were started from (their `gantry.release` label)."""

    colour: str
    containers: tuple[Container, ...] = ()
    releases: tuple[str, ...] = ()

    @property
    def running(self) -> bool:
        """Every container up (and healthy where it has a healthcheck): the colour can take traffic now."""
        return bool(self.containers) and all(c.state == "running" and c.health in ("", "healthy")
                                             for c in self.containers)

    def runs(self, rid: str) -> bool:
        return self.running and self.releases == (rid,)

    @property
    def summary(self) -> str:
        if not self.containers:
            return "none"
        state = "running" if self.running else "stopped" if all(c.state == "exited" for c in self.containers) \
            else "unhealthy"
        return f"{state} {','.join(self.releases) or '?'}"


@dataclass(frozen=True)
class BlueGreenFacts:
    live: LiveState = LiveState()
    colours: dict[str, ColourFacts] = field(default_factory=dict)
    proxy: tuple[Container, ...] = ()
    migrate: bool = True  # the host's kernel has documents.MIGRATE_SYSCTL

    def colour(self, name: str) -> ColourFacts:
        return self.colours.get(name) or ColourFacts(name)

    @property
    def next_colour(self) -> str:
        """The colour a new release starts as: the one that is not live."""
        return other(self.live.colour)

    @property
    def proxy_running(self) -> bool:
        return any(c.state == "running" for c in self.proxy)


def _rows(lines: list[str]) -> tuple[tuple[Container, ...], tuple[str, ...]]:
    text = "\n".join(lines)
    try:
        containers = parse_ps(text)
    except ValueError:
        return (), ()
    releases = set()
    for line in lines:
        try:
            row = json.loads(line)
        except ValueError:
            continue
        if isinstance(row, dict) and row.get("Release"):
            releases.add(str(row["Release"]))
    return containers, tuple(sorted(releases))


def parse_bluegreen(text: str) -> BlueGreenFacts:
    """The output of bluegreen.commands.facts."""
    sections = split_sections(text)
    colours = {}
    for colour in COLOURS:
        containers, releases = _rows(sections.get(f"bg-ps-{colour}", []))
        colours[colour] = ColourFacts(colour, containers, releases)
    proxy, _ = _rows(sections.get("bg-ps-proxy", []))
    kernel = "".join(sections.get("bg-kernel", [])).strip()
    return BlueGreenFacts(parse_state("\n".join(sections.get("bg-state", []))), colours, proxy,
                          migrate=kernel.isdigit())


def proxy_urls(address: str, routes) -> list[str]:
    """Where a host's proxy answers, one URL per route (its host name, else the host's address)."""
    return [f"http://{r.host or address}:{r.publish}/" + (f" (via {address})" if r.host else "") for r in routes]


def status_of(bg: BlueGreenFacts, address: str, routes) -> dict:
    """A host's colours for `inv status`: the live colour, each colour's state, where the proxy answers."""
    return {"colour": bg.live.colour, "colours": {c: bg.colour(c).summary for c in COLOURS},
            "proxy": " ".join(proxy_urls(address, routes)) if bg.proxy_running else "",
            "proxy_running": bg.proxy_running}
