# -*- coding: utf-8 -*-
# Copyright: wsfleet.deploy maintainers
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import absolute_import, division, print_function

__metaclass__ = type

DOCUMENTATION = r"""
---
name: wheelhouse_target
short_description: Name of the wheelhouse that app_wheelhouse built for a host
version_added: 0.1.0
description:
  - Turns a host's Python version, CPU and glibc into the key of C(wheelhouses) that
    M(wsfleet.deploy.app_wheelhouse) returns.
options:
  _input:
    description: A mapping with C(python_version), C(machine) and C(glibc_version).
    type: dict
    required: true
author:
  - wsfleet.deploy maintainers (!UNKNOWN)
"""

EXAMPLES = r"""
- name: Pick this host's wheels from what app_wheelhouse built
  ansible.builtin.set_fact:
    wheels: "{{ build.wheelhouses[host_target | wsfleet.deploy.wheelhouse_target] }}"
  vars:
    host_target: {python_version: "3.11", machine: x86_64, glibc_version: "2.36"}
"""

RETURN = r"""
_value:
  description: The target's key, such as C(cp311-x86_64-glibc2.36).
  type: str
"""

from ansible.errors import AnsibleFilterError
from ansible_collections.wsfleet.deploy.plugins.module_utils.wheelhouse import target_key


def wheelhouse_target(target):
    try:
        return target_key(target)
    except (KeyError, TypeError, AttributeError) as error:
        raise AnsibleFilterError(
            "wheelhouse_target needs python_version, machine and glibc_version: %s" % error
        ) from error


class FilterModule(object):
    def filters(self):
        return {"wheelhouse_target": wheelhouse_target}
