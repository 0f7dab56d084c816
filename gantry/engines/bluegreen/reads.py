"""Where `exec` and `shell` find a proxied service of a blue/green host: in its live colour's compose project,
with that colour's view of the live release (commands.view_layout)."""

from __future__ import annotations

from gantry.engines.bluegreen.commands import ProxyLayout, view_layout
from gantry.engines.bluegreen.documents import colour_project, parse_state
from gantry.engines.bluegreen.settings import routes
from gantry.engines.hosts import commands
from gantry.errors import UsageError


def place_of(env, service: str):
    """A reads.Place for `service` when the proxy routes to it, else None (it runs in the base project)."""
    if service not in {r.service for r in routes(env)}:
        return None

    def place(conn, layout: commands.Layout, rid: str) -> tuple[str, commands.Layout, str]:
        out = conn.run(commands.argv("cat", ProxyLayout(layout).state), step="colour", check=False)
        live = parse_state(out.stdout)
        if not live.colour:
            raise UsageError(f"{conn.target.label}: --service", f"{service} has no live colour on this host",
                             "deploy first")
        return colour_project(env.compose_project, live.colour), view_layout(layout, live.colour), \
            live.release or rid

    return place
