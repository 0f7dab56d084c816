"""Compose over SSH: each host keeps its releases and runs `docker compose` (the default engine).

commands.py builds the argvs, facts.py parses what they print, session.py is one host during one run,
steps.py the plan's steps for a host, engine.py the `Engine` the runner talks to.
"""


def make_engine(env):
    from gantry.engines.hosts.engine import HostsEngine  # loads the session (and tenacity) only for a run

    return HostsEngine(env)
