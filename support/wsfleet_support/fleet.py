"""Fleet access: a local fleet's hosts as fleet/localfleet.py keeps them, and a molecule
scenario's hosts as its inventory and testinfra reach them."""

from __future__ import annotations

import json
import os
from dataclasses import dataclass
from functools import cached_property
from pathlib import Path
from typing import Any

from wsfleet_support.paths import FLEET_STATE_ROOT, PROJECT, SSH_KEY

# Every host also answers to <name>.wsfleet.test inside its fleet (fleet/localfleet.py).
FLEET_DOMAIN = "wsfleet.test"
MOLECULE_FLEET = "wsfleet-molecule"


def fleet_name(host_name: str) -> str:
    """The name a fleet host is known by inside the fleet, and certified for."""
    return f"{host_name}.{FLEET_DOMAIN}"


@dataclass(frozen=True)
class LocalFleet:
    """A fleet of podman containers made by fleet/localfleet.py, read from its state folder:
    hosts.json (name, group, address of every host), known_hosts, and Pebble's root."""

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
