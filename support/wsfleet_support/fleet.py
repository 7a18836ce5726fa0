"""Fleet access: a local fleet's hosts as fleet/localfleet.py keeps them, and a molecule
scenario's hosts as its inventory and testinfra reach them."""

from __future__ import annotations

import contextlib
import ipaddress
import json
import os
import subprocess
from collections.abc import Iterator
from dataclasses import dataclass
from functools import cached_property
from pathlib import Path
from typing import Any

from wsfleet_support.paths import FLEET_STATE_ROOT, PROJECT, SSH_KEY

# Every host also answers to <name>.wsfleet.test inside its fleet (fleet/localfleet.py).
FLEET_DOMAIN = "wsfleet.test"
# The name the edge hosts share, through their floating addresses (or the one edge's address).
SHARED_NAME = f"ws.{FLEET_DOMAIN}"
MOLECULE_FLEET = "wsfleet-molecule"


def fleet_name(host_name: str) -> str:
    """The name a fleet host is known by inside the fleet, and certified for."""
    return f"{host_name}.{FLEET_DOMAIN}"


@dataclass(frozen=True)
class LocalFleet:
    """A fleet of podman containers made by fleet/localfleet.py, read from its state folder:
    hosts.json (name, group, addresses of every host), networks.json (the public network
    clients reach the edge on, the private one between the edge and the app hosts),
    known_hosts, and Pebble's root."""

    name: str
    inventory: Path | None = None

    @property
    def state(self) -> Path:
        return FLEET_STATE_ROOT / self.name

    @property
    def known_hosts(self) -> Path:
        return self.state / "known_hosts"

    @property
    def ssh_key(self) -> Path:
        return SSH_KEY

    def acme_root(self) -> str:
        """Pebble's root: new on every start of the ACME host, fetched by fleet/acme.yml."""
        return str(self.state / "acme-root.pem")

    def hosts(self) -> list[dict]:
        return json.loads((self.state / "hosts.json").read_text())

    def hosts_of(self, group: str) -> list[dict]:
        return [host for host in self.hosts() if host["group"] == group]

    def container(self, host_name: str) -> str:
        """The podman container behind one of the fleet's hosts."""
        return f"{self.name}-{host_name}"

    def network(self, kind: str) -> dict:
        """The "public" or "private" network: its bridge on the controller (interface), its
        subnet and the controller's address on it (gateway)."""
        return json.loads((self.state / "networks.json").read_text())[kind]

    def floating_addresses(self) -> list[str]:
        """The public network's floating addresses (no prefix), which keepalived moves between
        the edge hosts: one per edge host when there are two or more."""
        return [entry.split("/")[0] for entry in self.network("public").get("floating", [])]

    @contextlib.contextmanager
    def client_addresses(self, count: int) -> Iterator[list[str]]:
        """count more addresses of the controller on the public network, so that clients come
        from many addresses as they do on the internet: the subnet's last ones that no host
        has, added to the bridge (replaced, if a killed run left them there) and removed after."""
        public = self.network("public")
        subnet = ipaddress.ip_network(public["subnet"])
        taken = {host["address"] for host in self.hosts()} | {public["gateway"]}
        taken |= set(self.floating_addresses())
        free = (str(subnet[-2 - index]) for index in range(subnet.num_addresses - 3))
        addresses = [address for address in free if address not in taken][:count]
        prefix, interface = subnet.prefixlen, public["interface"]
        try:
            for address in addresses:
                _ip("addr", "replace", f"{address}/{prefix}", "dev", interface)
            yield addresses
        finally:
            for address in addresses:
                _ip("addr", "del", f"{address}/{prefix}", "dev", interface, check=False)

    def private_address(self, host_name: str) -> str:
        """Where a host is on the private network: the edge reaches the app hosts from there."""
        for host in self.hosts():
            if host["name"] == host_name:
                return host["private_address"]
        raise KeyError(f"{host_name} is not a host of the fleet {self.name}")


def _ip(*words: str, check: bool = True) -> None:
    subprocess.run(["ip", *words], check=check, capture_output=True)


def molecule_fleet() -> LocalFleet:
    """The local fleet the molecule scenarios share."""
    return LocalFleet(os.environ.get("WSFLEET_FLEET_NAME", MOLECULE_FLEET))


class Inventory:
    """The hosts of an Ansible inventory as testinfra reaches them (over Ansible's SSH
    settings): molecule's, by default."""

    def __init__(self, path: str | os.PathLike | None = None) -> None:
        self.path = str(path or os.environ["MOLECULE_INVENTORY_FILE"])

    @cached_property
    def _runner(self) -> Any:
        from testinfra.utils.ansible_runner import AnsibleRunner

        return AnsibleRunner(self.path)

    def hosts_of(self, group: str) -> list[str]:
        return self._runner.get_hosts(group)

    def host(self, name: str) -> Any:
        """A testinfra host for one inventory host."""
        import testinfra

        return testinfra.get_host(f"ansible://{name}?ansible_inventory={self.path}")

    def address(self, name: str) -> str:
        return self.host(name).ansible.get_variables()["ansible_host"]


__all__ = ["FLEET_DOMAIN", "PROJECT", "Inventory", "LocalFleet", "fleet_name", "molecule_fleet"]
