# -*- coding: utf-8 -*-
# Copyright: wsfleet.deploy maintainers
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import absolute_import, division, print_function

__metaclass__ = type

DOCUMENTATION = r"""
---
name: valid_regex
short_description: Whether a text is a regular expression Python can compile
version_added: 0.2.0
description:
  - True when the input compiles as a Python regular expression, the dialect of
    M(wsfleet.deploy.websocket_probe)'s O(wsfleet.deploy.websocket_probe#module:expect). A
    preflight uses it to refuse a pattern before any host changes, naming the variable, rather
    than fail on the first host at its first health gate.
options:
  _input:
    description: The text to compile.
    type: str
    required: true
author:
  - wsfleet.deploy maintainers (!UNKNOWN)
"""

EXAMPLES = r"""
- name: Refuse a pattern that cannot compile
  ansible.builtin.assert:
    that: wsfleet_check_expect is wsfleet.deploy.valid_regex
    fail_msg: wsfleet_check_expect is not a regular expression
"""

RETURN = r"""
_value:
  description: Whether the input compiles.
  type: bool
"""

from ansible_collections.wsfleet.deploy.plugins.module_utils.websocket_probe import (
    pattern_problem,
)


def valid_regex(pattern):
    return pattern_problem(pattern) is None


class TestModule(object):
    def tests(self):
        return {"valid_regex": valid_regex}
