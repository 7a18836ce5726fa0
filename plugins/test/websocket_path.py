# -*- coding: utf-8 -*-
# Copyright: wsfleet.deploy maintainers
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import absolute_import, division, print_function

__metaclass__ = type

DOCUMENTATION = r"""
---
name: websocket_path
short_description: Whether a text can follow the host in a WebSocket URL
version_added: 0.2.0
description:
  - True when the input starts with C(/) and holds no fragment (C(#)), which a WebSocket URL
    cannot carry. This is the rule that M(wsfleet.deploy.app_rollout) applies to
    O(wsfleet.deploy.app_rollout#module:check_path).
  - A preflight uses it to refuse a path before any host changes, naming the variable, rather
    than fail on the first host at its first health gate.
options:
  _input:
    description: The path, with its query string if any.
    type: str
    required: true
author:
  - wsfleet.deploy maintainers (!UNKNOWN)
"""

EXAMPLES = r"""
- name: Refuse a path a WebSocket URL cannot take
  ansible.builtin.assert:
    that: wsfleet_check_path is wsfleet.deploy.websocket_path
    fail_msg: wsfleet_check_path must start with / and hold no fragment
"""

RETURN = r"""
_value:
  description: Whether the input can follow the host in a WebSocket URL.
  type: bool
"""

from ansible_collections.wsfleet.deploy.plugins.module_utils.websocket_probe import (
    check_path_problem,
)


def websocket_path(path):
    return check_path_problem(str(path)) is None


class TestModule(object):
    def tests(self):
        return {"websocket_path": websocket_path}
