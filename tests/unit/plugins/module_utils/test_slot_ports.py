"""The NAT map of surge on TCP ports: names, ports, the table's text and nft's JSON."""

import json

import pytest
from ansible_collections.wsfleet.deploy.plugins.module_utils import slot_ports


@pytest.mark.parametrize(
    ("app", "table"),
    [("echo", "wsfleet_echo_slots"), ("chat-api", "wsfleet_chat_api_slots")],
)
def test_each_app_has_a_table_of_its_own_with_a_name_nft_accepts(app, table):
    assert slot_ports.table_name(app) == table


@pytest.mark.parametrize(
    ("slot", "side", "port"),
    [(1, "a", 9001), (1, "b", 9002), (2, "a", 9003), (4, "b", 9008)],
)
def test_each_slot_takes_two_ports_side_a_first(slot, side, port):
    assert slot_ports.side_port(9001, slot, side) == port


def test_the_table_maps_each_slot_port_to_its_live_side_and_replaces_itself():
    text = slot_ports.render("echo", "127.0.0.1", {8002: 9004, 8001: 9001})
    lines = [line.strip() for line in text.splitlines()]
    # Declared then deleted then made whole: one transaction, whether the table existed or not.
    assert lines.index("table inet wsfleet_echo_slots") < lines.index(
        "delete table inet wsfleet_echo_slots"
    )
    assert "elements = { 8001 : 9001, 8002 : 9004 }" in lines
    assert "ip daddr 127.0.0.1 tcp dport @slots dnat ip to 127.0.0.1:tcp dport map @slots" in lines
    assert "type nat hook output priority -100; policy accept;" in lines


def test_an_ipv6_address_gets_an_ip6_rule_and_brackets():
    text = slot_ports.render("echo", "::1", {8001: 9002})
    assert "ip6 daddr ::1 tcp dport @slots dnat ip6 to [::1]:tcp dport map @slots" in text


def test_a_map_without_slots_has_no_elements_line():
    # nft refuses `elements = { }`.
    assert "elements" not in slot_ports.render("echo", "127.0.0.1", {})


def nft_json(elements=None):
    listed = {"family": "inet", "name": "slots", "table": "wsfleet_echo_slots"}
    if elements is not None:
        listed["elem"] = elements
    return json.dumps({"nftables": [{"metainfo": {"version": "1.0.6"}}, {"map": listed}]})


@pytest.mark.parametrize(
    ("listed", "mapping"),
    [
        (nft_json([[8001, 9002], [8002, 9003]]), {8001: 9002, 8002: 9003}),
        (nft_json(), {}),
        (json.dumps({"nftables": []}), {}),
    ],
    ids=["two-slots", "empty-map", "no-map"],
)
def test_the_kernel_map_is_read_from_nft_json(listed, mapping):
    assert slot_ports.parse_map(listed) == mapping
