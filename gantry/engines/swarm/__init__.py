"""The swarm engine: `docker stack deploy` on the first reachable manager of an existing Docker Swarm.

commands.py (argv), facts.py (parsers of the manager's JSON), stack.py (compose model -> stack file),
verdict.py (convergence), session.py (the steps on a manager), driver.py (deploy/rollback on the
hosts Driver until the Plan runner lands).
"""
