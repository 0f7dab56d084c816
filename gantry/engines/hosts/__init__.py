"""Compose over SSH: each host keeps its releases and runs `docker compose` (the default engine).

commands.py builds the argvs, facts.py (and readouts.py) parse what they print, session.py is one host during
one run (support.py: its error, retry, tar and lock helpers), steps.py the plan's steps for a host, engine.py
the `Engine` the runner talks to, reads.py the day-2 tasks' work on every host (status, logs, drift, exec, ...).
"""


def make_engine(env):
    from gantry.engines.hosts.engine import HostsEngine  # loads the session (and tenacity) only for a run

    return HostsEngine(env)
