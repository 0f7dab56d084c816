"""The `proxy:` keys: types bound by the config walker, values checked against the compose model."""

import pytest

from gantry.config import bind_environment
from gantry.engines.bluegreen.settings import check_proxy, exclusive_volumes, routes
from gantry.errors import ProblemList

SOURCE = "environments/prod.yml"
PINNED = "reg:5000/gantry-lab/caddy:2.6.2@sha256:" + "a" * 64
BASE = f"project: app\ndeploy_path: /srv/app\nproxy_image: {PINNED}\n"
MODEL = {
    "services": {
        "web": {"image": "web", "ports": [{"target": 8080, "published": "8080"}]},
        "api": {"image": "api"},
        "db": {"image": "db", "volumes": [{"type": "volume", "source": "data", "target": "/var/lib/db"}],
               "ports": ["5432:5432"]},
        "named": {"image": "x", "container_name": "fixed"},
        "hostnet": {"image": "x", "network_mode": "host"},
        "cache": {"image": "x", "volumes": ["cache:/cache"]},
    },
    "volumes": {"data": {"labels": {"gantry.exclusive": "true"}}, "cache": {"labels": ["gantry.exclusive=false"]}},
}


def found(text, model=MODEL):
    env = bind_environment(text, SOURCE)
    return [str(p) for p in check_proxy(env, model, text, SOURCE)]


def test_bluegreen_settings_accepts_the_documented_example():
    text = BASE + "proxy:\n  web:\n    port: 8080\n    host: app.example.com\n    publish: 80\n    drain: 10s\n"
    assert found(text) == []
    (route,) = routes(bind_environment(text, SOURCE))
    assert (route.service, route.port, route.host, route.publish, route.drain) == ("web", 8080, "app.example.com",
                                                                                   80, 10.0)


@pytest.mark.parametrize("proxy, expected", [
    ("  wbe: {port: 8080}\n", "environments/prod.yml:5:3: proxy.wbe: no service named \"wbe\" in the compose files"
     "\n  hint: did you mean 'web'?"),
    ("  web: {port: 0}\n", "environments/prod.yml:5:9: proxy.web.port: 0 is not a TCP port"),
    ("  web: {port: 8080, publish: 70000}\n", "proxy.web.publish: 70000 is not a TCP port"),
    ("  web: {port: 8080, drain: soon}\n", 'proxy.web.drain: "soon" is not a duration up to 1h'),
    ("  web: {port: 8080, drain: 2h}\n", 'proxy.web.drain: "2h" is not a duration up to 1h'),
    ("  web: {port: 8080, host: 'http://x'}\n", 'proxy.web.host: "http://x" is not a host name'),
    ("  web: {port: 8080}\n  api: {port: 9000}\n", "proxy.web.host: api already answers on port 80 for every host"),
    ("  web: {port: 8080, publish: 5432}\n", "proxy.web.publish: port 5432 is already published by service db"),
    ("  db: {port: 5432, publish: 81}\n", "service db mounts volume data, marked gantry.exclusive"),
    ("  named: {port: 1}\n", "service named sets container_name"),
    ("  hostnet: {port: 1}\n", "service hostnet uses network_mode host"),
    ("  web: {port: eighty}\n", 'environments/prod.yml:5:9: proxy.web.port: expected an integer, got "eighty"'),
    ("  web: {port: 8080, tls: yes}\n", "proxy.web.tls: unknown key"),
], ids=["unknown-service", "port-zero", "publish-range", "drain-word", "drain-too-long", "host-url",
        "same-route-twice", "publish-clash", "exclusive-volume", "container-name", "host-network", "port-type",
        "unknown-key"])
def test_bluegreen_settings_reports_each_problem_located(proxy, expected):
    text = BASE + "proxy:\n" + proxy
    try:
        problems = found(text)
    except ProblemList as exc:  # a type error: the config walker's own report
        problems = [str(p) for p in exc.problems]
    assert any(expected in p for p in problems), problems


@pytest.mark.parametrize("image, expected", [
    ("", "proxy_image: the proxy needs an image"),
    ("reg/caddy:2.6.2", 'proxy_image: "reg/caddy:2.6.2" is not pinned by digest'),
], ids=["missing", "tag-only"])
def test_bluegreen_settings_wants_a_pinned_proxy_image(image, expected):
    text = "project: app\ndeploy_path: /srv/app\n" + (f"proxy_image: '{image}'\n" if image else "") + \
        "proxy:\n  web: {port: 8080}\n"
    assert any(expected in p for p in found(text)), found(text)


def test_bluegreen_settings_shared_volume_not_marked_exclusive_is_allowed():
    assert exclusive_volumes(MODEL) == {"data"}
    assert found(BASE + "proxy:\n  cache: {port: 80, publish: 81}\n") == []


def test_bluegreen_settings_no_proxy_no_problem():
    assert found("project: app\ndeploy_path: /srv/app\n") == []


@pytest.mark.parametrize("text, expected", [
    (BASE + "proxy:\n  web: {port: 8080}\n", "proxy: is read only by engine: bluegreen"),
    ("project: app\ndeploy_path: /srv/app\nengine: bluegreen\n", "engine: bluegreen needs at least one service"),
], ids=["proxy-without-engine", "engine-without-proxy"])
def test_bluegreen_settings_engine_and_proxy_go_together(text, expected):
    from gantry.engines.bluegreen.settings import engine_problems

    env = bind_environment(text, SOURCE)
    assert any(expected in str(p) for p in engine_problems(env, MODEL))
