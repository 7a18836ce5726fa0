# -*- coding: utf-8 -*-
# Copyright: wsfleet.deploy maintainers
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import absolute_import, division, print_function

__metaclass__ = type


class ModuleDocFragment(object):
    # The health gate every process passes in a rollout (module_utils/health_gate.py, whose
    # GATE_OPTIONS is the argument spec these options document).
    DOCUMENTATION = r"""
options:
  health_path:
    description: Path of the health check every process must answer with 200.
    type: str
    default: /healthz
  health_retries:
    description: How many more times the gate tries a process after a failed attempt.
    type: int
    default: 120
  health_delay:
    description:
      - Seconds between two attempts of the gate, at most. The first waits are shorter (0.02 s,
        doubling), since most processes are ready within a fraction of a second.
    type: float
    default: 0.25
  health_timeout:
    description: Seconds each step of one attempt (connect, health check, handshake, ping) may take.
    type: float
    default: 5
  check_path:
    description:
      - Where the gate opens its WebSocket on each process once the health check answers, the
        path the app serves WebSockets at, with a query string if it needs one.
    type: str
    default: /
  check_headers:
    description:
      - Headers of the gate's opening handshake, such as a token (C(Authorization)) or an
        C(Origin) the app accepts. Kept out of the logs.
    type: dict
    default: {}
  check_subprotocols:
    description: Subprotocols the gate offers; the process must choose one of them.
    type: list
    elements: str
    default: []
  check_send:
    description:
      - Text message the gate sends after its ping. Nothing when not set.
      - A mapping or list (what a JSON text templated by ansible-core before 2.19 becomes) is
        sent as JSON.
    type: raw
  check_expect:
    description:
      - Regular expression the next message from the process must match (after O(check_send)
        when set), such as a greeting or the answer to O(check_send). Nothing awaited when not
        set.
    type: str
"""
