# -*- coding: utf-8 -*-
# Copyright: wsfleet.deploy maintainers
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

"""The client connections a router's processes hold, read from `ss -Htnp state established`."""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import re

_PROCESS = re.compile(r'\("([^"]+)",pid=\d+')


def local_port(address):
    """The port of an ss address such as 10.0.0.1:443, [::1]:443 or *:80; None if none."""
    host, port = address.rpartition(":")[::2]
    return int(port) if host and port.isdigit() else None


def local_host(address):
    """The address part of an ss address such as 10.0.0.1:443 or [::1]:443, unbracketed."""
    return address.rpartition(":")[0].strip("[]")


def client_connections(ss_output, ports, process, ignored_addresses=()):
    """How many established connections on these local ports a process of that name holds,
    leaving out those made to one of ignored_addresses (floating addresses that moved away:
    their clients' packets reach another host now)."""
    count = 0
    for line in ss_output.splitlines():
        fields = line.split()
        if len(fields) < 5 or local_port(fields[2]) not in ports:
            continue
        if local_host(fields[2]) in ignored_addresses:
            continue
        if process in _PROCESS.findall(" ".join(fields[4:])):
            count += 1
    return count
