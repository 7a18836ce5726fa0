# -*- coding: utf-8 -*-
# Copyright: wsfleet.deploy maintainers
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import absolute_import, division, print_function

__metaclass__ = type

DOCUMENTATION = r"""
---
name: role_options
short_description: A role's option specification, to check the values set against it
version_added: 0.2.0
description:
  - Reads an entry point's options from a role's C(meta/argument_specs.yml), without their
    defaults, for M(ansible.builtin.validate_argument_spec) to check the values a user set
    before any host changes (a role's own entry point checks them only when it runs). A
    default is a template the role resolves itself, not a value to check here.
options:
  _input:
    description: The role's folder, such as C(role_path).
    type: path
    required: true
  entry_point:
    description: The entry point whose options to read.
    type: str
    default: main
author:
  - wsfleet.deploy maintainers (!UNKNOWN)
"""

EXAMPLES = r"""
- name: Check the types and choices of the role's options
  ansible.builtin.validate_argument_spec:
    argument_spec: "{{ role_path | wsfleet.deploy.role_options }}"
"""

RETURN = r"""
_value:
  description: The options, as in the specification, without C(default).
  type: dict
"""

import os

import yaml
from ansible.errors import AnsibleFilterError


def without_defaults(options):
    """The options without their defaults, their suboptions' too."""
    stripped = {}
    for name, option in options.items():
        option = dict((key, value) for key, value in option.items() if key != "default")
        if isinstance(option.get("options"), dict):
            option["options"] = without_defaults(option["options"])
        stripped[name] = option
    return stripped


def role_options(role_path, entry_point="main"):
    path = os.path.join(role_path, "meta", "argument_specs.yml")
    try:
        with open(path) as handle:
            specs = yaml.safe_load(handle)["argument_specs"]
        return without_defaults(specs[entry_point].get("options") or {})
    except (IOError, OSError, KeyError, TypeError, yaml.YAMLError) as error:
        raise AnsibleFilterError(
            "no options of entry point %s in %s: %s" % (entry_point, path, error)
        ) from error


class FilterModule(object):
    def filters(self):
        return {"role_options": role_options}
