"""The swarm engine: `docker stack deploy` on the first reachable manager of an existing Docker Swarm.

commands.py (argv), facts.py (parsers of the manager's JSON), stack.py (compose model -> stack file),
verdict.py (convergence), session.py (one manager during a run, running the hosts engine's steps with
the swarm's meaning), engine.py (the `Engine` the runner talks to), status.py (`inv status`).
"""


def make_engine(env):
    from gantry.engines.swarm.engine import SwarmEngine  # loads the session only for a run

    return SwarmEngine(env)
