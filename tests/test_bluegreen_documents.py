"""The blue/green documents, commands and facts: pure functions of the model, the routes and captured output."""

import json

import pytest

from gantry.engines.bluegreen import commands, documents
from gantry.engines.bluegreen.facts import parse_bluegreen
from gantry.engines.bluegreen.settings import Route
from gantry.engines.hosts.commands import Layout
from gantry.shell import render

PROJECT = "shop-prod"
MODEL = {
    "name": PROJECT,
    "services": {
        "web": {"image": "web:2", "ports": [{"target": 8080, "published": "80"}],
                "depends_on": {"db": {"condition": "service_healthy"}, "api": {"condition": "service_started"}},
                "volumes": [{"type": "volume", "source": "uploads", "target": "/up"}]},
        "api": {"image": "api:2", "networks": {"back": None}},
        "db": {"image": "db:16", "volumes": [{"type": "volume", "source": "data", "target": "/var/lib/db"}],
               "networks": {"default": None, "back": None}},
        "worker": {"image": "w:2", "depends_on": ["web", "db"]},
    },
    "networks": {"default": {"name": "shop-prod_default"}, "back": {"name": "shop-prod_back"}},
    "volumes": {"data": {"name": "shop-prod_data"}, "uploads": {}},
}
ROUTES = (Route("api", 9000, "api.example.com", 80, 5.0), Route("web", 8080, "", 80, 10.0))


def test_bluegreen_base_document_keeps_the_unproxied_services_without_edges_to_proxied_ones():
    base = documents.base_document(MODEL, ROUTES)
    assert sorted(base["services"]) == ["db", "worker"]
    assert base["services"]["worker"]["depends_on"] == ["db"]
    assert base["networks"] == MODEL["networks"] and base["volumes"] == MODEL["volumes"]


def test_bluegreen_colour_document_joins_base_networks_and_the_proxy_with_its_own_alias():
    doc = documents.colour_document(MODEL, ROUTES, PROJECT, "green", "r2")
    assert doc["name"] == "shop-prod-_green"
    web = doc["services"]["web"]
    assert "ports" not in web
    assert web["depends_on"] == {"api": {"condition": "service_started"}}  # db runs in the base project
    assert web["networks"]["gantry-proxy"] == {"aliases": ["web.green"]}
    assert web["labels"] == {"gantry.colour": "green", "gantry.release": "r2"}
    assert doc["networks"]["default"] == {"name": "shop-prod_default", "external": True}
    assert doc["networks"]["back"] == {"name": "shop-prod_back", "external": True}
    assert doc["networks"]["gantry-proxy"] == {"name": "shop-prod-_proxy_net", "external": True}
    # a named volume keeps its real name: both colours mount the same one
    assert doc["volumes"] == {"uploads": {"name": "shop-prod_uploads"}}


@pytest.mark.parametrize("project, env", [("shop", "prod"), ("shop-prod", "blue"), ("shop", "prod-blue"),
                                          ("a", "b-c"), ("a-b", "c")],
                         ids=["plain", "env-named-blue", "env-with-dash", "coded-env", "dash-project"])
def test_bluegreen_colour_projects_are_never_another_environments(project, env):
    from gantry.config.checks import compose_project_name

    base = compose_project_name(project, env)
    ours = {documents.colour_project(base, c) for c in documents.COLOURS} | {documents.proxy_project(base)}
    names = (project, base, "shop", "shop-prod", "a", "a-b")
    others = {compose_project_name(p, e) for p in names for e in ("blue", "green", "proxy", "prod", "prod-blue", "c")}
    assert len(ours) == 3 and not ours & others and base not in ours
    with pytest.raises(ValueError):
        documents.colour_project(base, "red")


@pytest.mark.parametrize("colour, first_handler", [
    ("blue", {"handler": "reverse_proxy", "upstreams": [{"dial": "api.blue:9000"}],
              "load_balancing": {"try_duration": "5s"}}),
    ("", {"handler": "static_response", "status_code": 503, "body": "no live colour yet\n"}),
], ids=["live-colour", "nothing-live"])
def test_bluegreen_caddy_config_routes_hosts_first_then_the_catch_all(colour, first_handler):
    config = documents.caddy_config(ROUTES, colour)
    server = config["apps"]["http"]["servers"]["p80"]
    assert server["listen"] == [":80"]
    assert [r.get("match") for r in server["routes"]] == [[{"host": ["api.example.com"]}], None]
    assert server["routes"][0]["handle"] == [first_handler]
    assert config["apps"]["http"]["grace_period"] == "10s"
    assert config["admin"] == {"listen": "localhost:2019"}


def test_bluegreen_caddy_config_without_catch_all_answers_404():
    routes = (Route("api", 9000, "api.example.com", 8443, 0.0),)
    last = documents.caddy_config(routes, "green")["apps"]["http"]["servers"]["p8443"]["routes"][-1]
    assert last["handle"][0]["status_code"] == 404


def test_bluegreen_proxy_document_publishes_each_port_once_and_mounts_config_read_only():
    doc = documents.proxy_document(PROJECT, "caddy@sha256:" + "b" * 64, "/srv/a b/proxy/config", ROUTES)
    proxy = doc["services"]["proxy"]
    assert proxy["ports"] == [{"target": 80, "published": "80", "protocol": "tcp"}]
    assert proxy["volumes"][0] == {"type": "bind", "source": "/srv/a b/proxy/config", "target": "/config",
                                   "read_only": True}
    assert doc["networks"] == {"net": {"name": "shop-prod-_proxy_net"}}
    # queued connections move to the new listener of a reload (no reset), unless the kernel lacks the sysctl
    assert proxy["sysctls"] == {"net.ipv4.tcp_migrate_req": "1"}
    old_kernel = documents.proxy_document(PROJECT, "caddy@sha256:" + "b" * 64, "/srv/p", ROUTES, migrate=False)
    assert "sysctls" not in old_kernel["services"]["proxy"]


def test_bluegreen_commands_quote_paths_once_and_reload_through_the_admin_api():
    proxy = commands.ProxyLayout(Layout("/srv/my app/shop/prod"))
    text = render(commands.switch_proxy(PROJECT, proxy, '{"a": 1}\n', "{}\n"))
    assert "'/srv/my app/shop/prod/proxy/config/caddy.json.tmp'" in text
    assert ("docker compose -p shop-prod-_proxy -f '/srv/my app/shop/prod/proxy/compose.yaml' exec -T proxy caddy "
            "reload --config /config/caddy.json --address localhost:2019") in text
    assert text.index("reload") < text.index("state.json")  # the live colour is recorded only after the reload
    views = render(commands.write_views(Layout("/srv/my app/shop/prod"), "r2", {"green": "services: {}\n"}))
    assert ("ln -sfn '/srv/my app/shop/prod/releases/r2/.env' '/srv/my app/shop/prod/views/green/releases/r2/.env'"
            in views)
    with pytest.raises(ValueError):
        commands.view_layout(Layout("/srv/a/b"), "../x")


def _row(service, state, status, release):
    return json.dumps({"ID": "x", "Name": f"n-{service}", "Service": service, "State": state, "Status": status,
                       "Release": release})


def test_bluegreen_facts_read_live_colour_and_each_colours_release():
    text = "\n".join([
        "--gantry:bg-state", '{"colour": "blue", "release": "r1"}',
        "--gantry:bg-kernel", "0",
        "--gantry:bg-ps-blue", _row("web", "running", "Up 3 minutes (healthy)", "r1"),
        "--gantry:bg-ps-green", _row("web", "exited", "Exited (0) 1 minute ago", "r0"),
        "--gantry:bg-ps-proxy", _row("proxy", "running", "Up 3 minutes (healthy)", ""),
        "--gantry:bg-end"])
    facts = parse_bluegreen(text)
    assert (facts.live.colour, facts.live.release, facts.next_colour) == ("blue", "r1", "green")
    assert facts.colour("blue").runs("r1") and not facts.colour("green").running
    assert facts.colour("green").summary == "stopped r0" and facts.proxy_running
    assert facts.migrate  # the sysctl exists (its value on the host does not matter: the proxy sets its own)


def test_bluegreen_facts_of_a_fresh_host():
    facts = parse_bluegreen("--gantry:bg-state\n--gantry:bg-ps-blue\n--gantry:bg-ps-green\n--gantry:bg-ps-proxy\n")
    assert (facts.live.colour, facts.next_colour, facts.proxy_running) == ("", "blue", False)
    assert facts.colour("blue").summary == "none"
    assert not facts.migrate  # no /proc/sys/net/ipv4/tcp_migrate_req printed: a kernel older than 5.14


def test_bluegreen_policy_sees_the_proxy_publish_the_ports_instead_of_the_service():
    from gantry.policy.ports import port_bindings

    model = documents.as_run(MODEL, ROUTES, PROJECT, "caddy@sha256:" + "c" * 64, "/srv/p/config")
    assert port_bindings(model["services"]["web"]) == []
    assert [b.published for b in port_bindings(model["services"]["gantry-proxy"])] == [80]
    assert model["services"]["db"] == MODEL["services"]["db"]
