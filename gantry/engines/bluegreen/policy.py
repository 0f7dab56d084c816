"""The policy judges a blue/green environment as its hosts run it: the proxy publishes the proxied services'
ports (so the port rules apply to `publish`, under the service name `gantry-proxy`), they publish nothing."""

from __future__ import annotations

from dataclasses import replace

from gantry.engines.bluegreen.documents import as_run
from gantry.engines.bluegreen.settings import routes


def as_checked(prep):
    """`prep` (gantry.prepare.Prepared) with its models as run, for the policy only (the release is built from
    the model as written); unchanged for any other engine."""
    env = prep.env
    if env.engine != "bluegreen" or not env.proxy:
        return prep
    found = routes(env)

    def run(model):
        return None if model is None else replace(model, data=as_run(
            model.data, found, env.compose_project, env.proxy_image, f"{env.base_dir}/proxy/config"))

    return replace(prep, model=run(prep.model), raw_model=run(prep.raw_model))
