"""Blue/green behind a proxy on each host: zero-downtime deploys and rollbacks (issue #16).

settings.py checks the `proxy:` keys; documents.py splits a release into the base project and two colour
projects and writes the proxy's (Caddy) documents; commands.py builds the argvs, facts.py parses what they
print; steps.py is the plan's steps for a host; session.py runs them over the hosts engine's session;
engine.py is the `Engine` the runner talks to.
"""


def make_engine(env):
    from gantry.engines.bluegreen.engine import BlueGreenEngine  # loads the session only for a run

    return BlueGreenEngine(env)
