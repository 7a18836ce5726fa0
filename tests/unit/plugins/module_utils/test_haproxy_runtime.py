"""Reading HAProxy's runtime API answers and choosing which servers change state."""

import pytest
from ansible_collections.wsfleet.deploy.plugins.module_utils.haproxy_runtime import (
    admin_state,
    not_up,
    parse_servers_state,
    parse_sessions,
    plan_state_changes,
    state_command,
)

# What HAProxy 2.6 answers to "show servers state" (columns cut after srv_admin_state's peers).
SERVERS_STATE = """1
# be_id be_name srv_id srv_name srv_addr srv_op_state srv_admin_state srv_uweight srv_iweight
3 wsfleet_edge 1 app1 10.89.0.5 2 0 1 1
3 wsfleet_edge 2 app2 10.89.0.6 2 8 1 1
3 wsfleet_edge 3 app3 10.89.0.7 0 1 1 1
4 wsfleet_acme 1 certbot 127.0.0.1 0 0 1 1

"""

SHOW_STAT = """# pxname,svname,qcur,qmax,scur,smax
wsfleet_https,FRONTEND,,,12,40
wsfleet_edge,app1,0,0,7,20
wsfleet_edge,app2,0,0,5,18
wsfleet_edge,BACKEND,0,0,12,40
"""


@pytest.mark.parametrize(
    ("bits", "state"),
    [
        (0x00, "ready"),
        (0x01, "maint"),  # forced by an operator
        (0x02, "maint"),  # inherited from a tracked server
        (0x04, "maint"),  # disabled in the configuration
        (0x08, "drain"),  # forced by an operator
        (0x10, "drain"),  # inherited
        (0x09, "maint"),  # maint wins over drain
        (0x20, "ready"),  # resolution failure alone is not an operator's state
    ],
)
def test_admin_state_from_the_bits(bits, state):
    assert admin_state(bits) == state


def test_servers_state_rows_are_read_by_their_header():
    servers = parse_servers_state(SERVERS_STATE)
    assert [(s["backend"], s["server"], s["state"], s["health"]) for s in servers] == [
        ("wsfleet_edge", "app1", "ready", "up"),
        ("wsfleet_edge", "app2", "drain", "up"),
        ("wsfleet_edge", "app3", "maint", "down"),
        ("wsfleet_acme", "certbot", "ready", "down"),
    ]
    assert servers[0]["address"] == "10.89.0.5"


def test_an_empty_answer_has_no_servers():
    assert parse_servers_state("1\n# be_id be_name srv_id srv_name\n") == []
    assert parse_servers_state("") == []


def test_sessions_are_read_per_server_and_totals_skipped():
    assert parse_sessions(SHOW_STAT) == {("wsfleet_edge", "app1"): 7, ("wsfleet_edge", "app2"): 5}
    assert parse_sessions("Unknown command\n") == {}


@pytest.mark.parametrize(
    ("names", "wanted", "changing"),
    [
        (["app1"], "drain", ["app1"]),
        (["app2"], "drain", []),  # already drained: nothing to do
        (["app2"], "ready", ["app2"]),
        ([], "drain", ["app1", "app3"]),  # every server of the backend
        ([], "ready", ["app2", "app3"]),
        (["app1", "app3"], "maint", ["app1"]),
    ],
)
def test_only_servers_in_another_state_change(names, wanted, changing):
    servers = parse_servers_state(SERVERS_STATE)
    plan = plan_state_changes(servers, "wsfleet_edge", names, wanted)
    assert [server["server"] for server in plan] == changing


@pytest.mark.parametrize(
    ("backend", "names", "message"),
    [
        ("wsfleet_app", [], "HAProxy has no backend wsfleet_app"),
        ("wsfleet_edge", ["app9"], "no server app9 (it has app1, app2, app3)"),
    ],
)
def test_a_backend_or_server_haproxy_lacks_is_refused(backend, names, message):
    with pytest.raises(ValueError, match=message.replace("(", r"\(").replace(")", r"\)")):
        plan_state_changes(parse_servers_state(SERVERS_STATE), backend, names, "drain")


@pytest.mark.parametrize(
    ("backend", "names", "down"),
    [
        ("wsfleet_edge", [], ["app3"]),  # every server of the backend
        ("wsfleet_edge", ["app1", "app2"], []),  # a drained server can be up
        ("wsfleet_edge", ["app3"], ["app3"]),
        ("wsfleet_acme", [], ["certbot"]),  # another backend's rows only
    ],
)
def test_servers_not_up_are_named(backend, names, down):
    assert not_up(parse_servers_state(SERVERS_STATE), backend, names) == down


def test_the_command_names_backend_server_and_state():
    command = state_command("wsfleet_edge", "app1", "drain")
    assert command == "set server wsfleet_edge/app1 state drain"
