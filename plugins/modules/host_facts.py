#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright: wsfleet.deploy maintainers
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import absolute_import, division, print_function

__metaclass__ = type

DOCUMENTATION = r"""
---
module: host_facts
short_description: What a fleet host is and what it runs now, read in one round trip
version_added: 0.2.0
description:
  - "Sets the fact C(wsfleet_host), which the collection's roles and playbooks read instead of
    gathering Ansible's facts: the CPUs, the addresses other hosts reach this one at, the
    Python that virtualenvs are made with, the router that runs now and, with O(app), what of
    the app is here (its process manager, process settings, releases, a switch begun)."
  - What a host runs is read from the host, never inferred from what it is set to run, so a
    run that switches routers or process managers knows where each host stands.
  - Changes nothing.
author:
  - wsfleet.deploy maintainers (!UNKNOWN)
options:
  python:
    description: The interpreter the app's virtualenvs are made with; its version is reported.
    type: path
  routers:
    description: The routers to look for (their systemd units).
    type: list
    elements: str
    default: [nginx, haproxy]
  router:
    description:
      - The router the host is set to run, to report whether it switches (C(switches_router),
        C(switching)).
    type: str
  floating_addresses:
    description:
      - Addresses with their prefix length, such as C(192.0.2.10/24), that move between hosts
        (keepalived's). They are left out of C(addresses) whoever holds them, and C(floating)
        reports for each the interface in its network, this host's own address there, and
        whether this host holds it now.
    type: list
    elements: str
    default: []
  app:
    description: The app's places on the host, to report what of it is here.
    type: dict
    suboptions:
      base_dir:
        description: Its base directory, holding C(releases/), C(current) and C(previous).
        type: path
        required: true
      instances_dir:
        description: The folder of its per-process settings (C(<slot><side>.env)).
        type: path
        required: true
      unit_template:
        description: Path of its systemd template unit.
        type: path
        required: true
      supervisor_conf:
        description: Path of its supervisor programs' file.
        type: path
        required: true
      switch_marker:
        description: A file present while a switch of process manager or router is under way.
        type: path
        required: true
      process_manager:
        description: The process manager the app is set to run under, to report whether it switches.
        type: str
attributes:
  check_mode:
    description: Reads only, in check mode too.
    support: full
  diff_mode:
    description: Changes nothing, so has nothing to show.
    support: none
  facts:
    description: Sets the fact C(wsfleet_host).
    support: full
"""

EXAMPLES = r"""
- name: Read the host
  wsfleet.deploy.host_facts:
    python: /usr/bin/python3

- name: The router it runs now
  ansible.builtin.debug:
    msg: "{{ wsfleet_host.router }}"
"""

RETURN = r"""
ansible_facts:
  description: The fact C(wsfleet_host).
  returned: always
  type: dict
  contains:
    wsfleet_host:
      description: What the host is and runs.
      type: dict
      returned: always
      sample:
        cpus: 2
        addresses: {ipv4: [10.89.0.2], ipv6: []}
        floating:
          - {address: 10.89.1.192, prefix: 24, interface: eth0, source: 10.89.1.2, held: true}
        gateway_ipv4: 10.89.0.1
        python: {python_version: "3.11", machine: x86_64, glibc_version: "2.36"}
        routers_installed: [nginx]
        routers_active: [nginx]
        router: nginx
        router_wanted: nginx
        switches_router: false
        switching: false
        app:
          process_manager: systemd
          instances: [1a, 1b, 2a, 2b]
          supervisor_programs: []
          releases: [1.0.0-24399fe9f45b]
          current: 1.0.0-24399fe9f45b
          previous: null
          switch_begun: false
          switches_manager: false
"""

import os

from ansible.module_utils.basic import AnsibleModule
from ansible_collections.wsfleet.deploy.plugins.module_utils.host_facts import (
    addresses,
    default_gateway,
    floating_addresses,
    glibc_version,
    instance_names,
    process_manager,
    python_version,
    switches,
    running_router,
    supervisor_programs,
)
from ansible_collections.wsfleet.deploy.plugins.module_utils.releases import (
    ReleaseLinks,
    list_releases,
)

UNIT_FOLDERS = ("/etc/systemd/system", "/lib/systemd/system", "/usr/lib/systemd/system")


def read(path):
    try:
        with open(path) as handle:
            return handle.read()
    except (IOError, OSError):
        return ""


def cpus():
    """The CPUs this host's processes may run on (a container or cgroup may have fewer)."""
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:
        return os.cpu_count() or 1


def ip_addresses_json(module):
    ip = module.get_bin_path("ip")
    if not ip:
        return "[]"
    rc, out, _err = module.run_command([ip, "-j", "address", "show"])
    return out if rc == 0 else "[]"


def target_python(module, python):
    rc, out, err = module.run_command([python, "--version"])
    if rc != 0:
        module.fail_json(msg="%s --version failed: %s" % (python, (err or out).strip()))
    return dict(
        python_version=python_version(out + err),
        machine=os.uname()[4],
        glibc_version=glibc_version(os.confstr("CS_GNU_LIBC_VERSION")),
    )


def routers(module, names):
    installed = [
        name
        for name in names
        if any(os.path.exists("%s/%s.service" % (folder, name)) for folder in UNIT_FOLDERS)
    ]
    active = [
        name
        for name in installed
        if module.run_command(["systemctl", "is-active", "--quiet", "%s.service" % name])[0] == 0
    ]
    return dict(
        routers_installed=installed,
        routers_active=active,
        router=running_router(installed, active),
    )


def app_state(app):
    links = ReleaseLinks(app["base_dir"])
    try:
        instance_files = os.listdir(app["instances_dir"])
    except OSError:
        instance_files = []
    return dict(
        process_manager=process_manager(
            os.path.exists(app["supervisor_conf"]), os.path.exists(app["unit_template"])
        ),
        instances=instance_names(instance_files),
        supervisor_programs=supervisor_programs(read(app["supervisor_conf"])),
        releases=[
            record["id"] for record in list_releases(links.releases_dir) if record["complete"]
        ],
        current=links.current(),
        previous=links.previous(),
        switch_begun=os.path.exists(app["switch_marker"]),
    )


def app_facts(app):
    state = app_state(app)
    state["switches_manager"] = switches(state["process_manager"], app["process_manager"])
    return state


def main():
    module = AnsibleModule(
        argument_spec=dict(
            python=dict(type="path"),
            routers=dict(type="list", elements="str", default=["nginx", "haproxy"]),
            router=dict(type="str"),
            floating_addresses=dict(type="list", elements="str", default=[]),
            app=dict(
                type="dict",
                options=dict(
                    base_dir=dict(type="path", required=True),
                    instances_dir=dict(type="path", required=True),
                    unit_template=dict(type="path", required=True),
                    supervisor_conf=dict(type="path", required=True),
                    switch_marker=dict(type="path", required=True),
                    process_manager=dict(type="str"),
                ),
            ),
        ),
        supports_check_mode=True,
    )
    params = module.params
    ip_json = ip_addresses_json(module)
    host = dict(
        cpus=cpus(),
        addresses=addresses(ip_json, params["floating_addresses"]),
        floating=floating_addresses(ip_json, params["floating_addresses"]),
        gateway_ipv4=default_gateway(read("/proc/net/route")),
    )
    host.update(routers(module, params["routers"]))
    if params["python"]:
        host["python"] = target_python(module, params["python"])
    host["router_wanted"] = params["router"]
    host["switches_router"] = switches(host["router"], params["router"])
    if params["app"]:
        host["app"] = app_facts(params["app"])
    # A switch begun and not ended (a run stopped half way) is taken up again.
    host["switching"] = host["switches_router"] or any(
        host.get("app", {}).get(key) for key in ("switches_manager", "switch_begun")
    )
    module.exit_json(changed=False, ansible_facts=dict(wsfleet_host=host))


if __name__ == "__main__":
    main()
