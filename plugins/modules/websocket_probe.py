#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright: wsfleet.deploy maintainers
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import absolute_import, division, print_function

__metaclass__ = type

DOCUMENTATION = r"""
---
module: websocket_probe
short_description: Check that a WebSocket endpoint really serves, with a real client session
version_added: 0.1.0
description:
  - Opens a real WebSocket connection to O(url), over TCP or over a unix socket, and
    completes the opening handshake.
  - Then optionally sends a ping and waits for its pong, optionally sends O(echo) and
    requires the identical text back, and finally runs the closing handshake.
  - Fails when any step fails, after O(retries) more attempts, with a message that says which
    step failed and why.
  - Meant as the health gate of rolling restarts (on an app host, against one process's unix
    socket, with the app's virtualenv Python as interpreter) and as the smoke test after a
    deploy (on the controller, against the edge).
  - Never reports a change.
author:
  - wsfleet.deploy maintainers (!UNKNOWN)
options:
  url:
    description:
      - URL of the WebSocket endpoint, C(ws://) or C(wss://).
      - With O(unix_socket), its host and path still give the C(Host) header and the request
        path, and C(wss://) still runs TLS, over the unix socket.
    type: str
    required: true
  unix_socket:
    description:
      - Connect over this unix socket instead of over TCP to the host and port of O(url).
    type: path
  connect_address:
    description:
      - Open the TCP connection to this address (IP address or host name) instead of the host
        of O(url), on the port of O(url). The host of O(url) still goes in the C(Host)
        header, in TLS server name indication and in the certificate check, like curl's
        C(--resolve). For a server whose name does not resolve where the probe runs.
      - Mutually exclusive with O(unix_socket).
    type: str
  health_path:
    description:
      - Before the WebSocket session, send C(GET) for this path to the same server (over the
        same unix socket, TCP or TLS connection) and require HTTP 200, such as C(/healthz). Its
        body is returned in RV(health), parsed when it is JSON (the example app reports its
        open connections there).
      - When not set, no health check is made.
    type: str
  handshake:
    description:
      - Open the WebSocket session after the health check. V(false) only reads
        O(health_path), for instance to count a process's open connections before draining it.
    type: bool
    default: true
  echo:
    description:
      - Text message to send once the connection is open; the server must send the identical
        text back (the echo contract of the example app).
      - When not set, no message is sent.
    type: str
  send:
    description:
      - Text message to send after the ping (and the echo), for an app that answers a request
        rather than echoing it.
      - A mapping or list (what a JSON text templated by ansible-core before 2.19 becomes) is
        sent as JSON.
      - When not set, no message is sent.
    type: raw
    version_added: 0.2.0
  expect:
    description:
      - Regular expression (Python's C(re.search)) that the next message from the server must
        match, after O(send) when it is set; binary messages are read as UTF-8. For an app that
        greets a client, or answers O(send).
      - When not set, no message is awaited.
    type: str
    version_added: 0.2.0
  subprotocols:
    description:
      - Subprotocols to offer in the opening handshake (C(Sec-WebSocket-Protocol)), in order of
        preference. The server must choose one of them.
    type: list
    elements: str
    default: []
    version_added: 0.2.0
  ping:
    description:
      - Send a ping and wait for its pong before the echo.
    type: bool
    default: true
  timeout:
    description:
      - Limit in seconds for each of these steps separately, opening (connection, TLS and
        handshake), pong, echo and closing handshake.
    type: float
    default: 5
  retries:
    description:
      - How many more times to try after a failed attempt. Each attempt is a new connection.
    type: int
    default: 0
  delay:
    description:
      - Seconds to sleep between attempts.
    type: float
    default: 1
  validate_certs:
    description:
      - For C(wss://), whether to verify the server's certificate and host name.
      - Only set to V(false) against a server whose certificate cannot be verified.
    type: bool
    default: true
  ca_path:
    description:
      - For C(wss://), a PEM bundle of the CA certificates to trust instead of the system's,
        such as the root of a test ACME CA.
      - Ignored, with a warning, for C(ws://).
    type: path
  headers:
    description:
      - Extra headers for the opening handshake request, such as C(Origin) or
        C(Authorization).
      - Kept out of the logs, since they may carry a token (each value is masked wherever it
        appears in the output, so keep short values such as a version out of them).
    type: dict
    default: {}
attributes:
  check_mode:
    description: Can run in check mode and report what would change without changing it.
    support: full
    details: Probes in check mode too, since a probe only reads.
  diff_mode:
    description: Can show what changed (or would change in check mode) in diff mode.
    support: none
requirements:
  - websockets >= 14 (its synchronous client) on the Python that runs the module
notes:
  - Over C(wss://), the sync clients of websockets 14 and 15 sometimes miss the server's
    answer to the closing handshake (a race in their TLS reads, gone in 17), and the probe
    then fails with no closing handshake. Probe C(wss://) URLs from a Python with a recent
    websockets, as the controller's.
  - HTTP redirects of the handshake are followed, as websockets follows them.
  - For TCP, recent websockets versions connect through the proxy that the environment sets
    (C(https_proxy), C(no_proxy), ...), like other clients.
seealso:
  - name: websockets client
    description: The client library that the probe runs.
    link: https://websockets.readthedocs.io/en/stable/reference/sync/client.html
"""

EXAMPLES = r"""
- name: Wait until the successor of slot 1 (its side b) echoes on its own unix socket
  wsfleet.deploy.websocket_probe:
    url: "ws://localhost/"
    unix_socket: "/run/echo/1b.sock"
    echo: "health"
    retries: 20
    delay: 0.5
  vars:
    ansible_python_interpreter: /srv/echo/current/venv/bin/python

- name: Send a message through the edge and wait for its echo
  wsfleet.deploy.websocket_probe:
    url: "wss://ws.example.org/"
    echo: "hello"
    ca_path: /etc/ssl/test-acme-root.pem
    # ws.example.org does not resolve to this edge yet: connect to its address.
    connect_address: 192.0.2.10
    headers:
      Origin: https://ws.example.org
  delegate_to: localhost
  register: smoke

- name: Health gate of a restarted process, its health check and then a real session
  wsfleet.deploy.websocket_probe:
    url: "ws://localhost/"
    unix_socket: "/run/echo/2.sock"
    health_path: /healthz
    retries: 30
    delay: 1
  vars:
    ansible_python_interpreter: /srv/echo/current/venv/bin/python

- name: Count the open connections of a process before it drains
  wsfleet.deploy.websocket_probe:
    url: "ws://localhost/"
    unix_socket: "/run/echo/2.sock"
    health_path: /healthz
    handshake: false
  register: before_drain
  vars:
    ansible_python_interpreter: /srv/echo/current/venv/bin/python

- name: An app that serves at /ws with a token and a subprotocol, and answers a request
  wsfleet.deploy.websocket_probe:
    url: "wss://chat.example.org/ws?room=status"
    headers:
      Authorization: "Bearer {{ vault_probe_token }}"
    subprotocols: [chat.v1]
    send: '{"type": "status"}'
    expect: '"ok": *true'
  delegate_to: localhost

- name: Only check that the handshake and a ping succeed
  wsfleet.deploy.websocket_probe:
    url: "ws://10.0.0.5:8080/"
    timeout: 2
"""

RETURN = r"""
attempts:
  description: Number of attempts made, the successful one included.
  returned: always
  type: int
  sample: 1
errors:
  description: Reason of each failed attempt, in order.
  returned: always
  type: list
  elements: str
  sample: ["connection refused"]
health:
  description: Body of the O(health_path) response, parsed when it is JSON.
  returned: success and O(health_path) is set
  type: raw
  sample: {"status": "ok", "version": "1.2.0", "connections": 412}
health_ms:
  description: Milliseconds of the health check request.
  returned: success and O(health_path) is set
  type: float
  sample: 1.1
open_ms:
  description: Milliseconds to connect and complete the opening handshake.
  returned: success and O(handshake) is true
  type: float
  sample: 3.2
ping_ms:
  description: Milliseconds from the ping to its pong.
  returned: success and O(ping) is true
  type: float
  sample: 0.4
echo_ms:
  description: Milliseconds from sending O(echo) to receiving it back.
  returned: success and O(echo) is set
  type: float
  sample: 0.6
subprotocol:
  description: The subprotocol the server chose, null when none was offered or chosen.
  returned: success and O(handshake) is true
  type: str
  sample: chat.v1
reply:
  description: The message from the server that matched O(expect), as text.
  returned: success and O(expect) is set
  type: str
  sample: '{"type": "status", "ok": true}'
reply_ms:
  description: Milliseconds from sending O(send) (from the end of the ping and echo when
    nothing is sent) to the reply that matched O(expect).
  returned: success and O(send) or O(expect) is set
  type: float
  sample: 0.8
close_code:
  description: Close code of the closing handshake, as the server answered it.
  returned: success and O(handshake) is true
  type: int
  sample: 1000
response_status:
  description: HTTP status of the handshake response.
  returned: success and O(handshake) is true
  type: int
  sample: 101
response_headers:
  description: Headers of the handshake response; repeated headers are joined with C(, ).
  returned: success and O(handshake) is true
  type: dict
  sample: {"Upgrade": "websocket", "Connection": "Upgrade", "Server": "nginx"}
"""

import functools

from ansible.module_utils.basic import AnsibleModule, missing_required_lib
from ansible_collections.wsfleet.deploy.plugins.module_utils.websocket_probe import (
    HAS_WEBSOCKETS,
    WEBSOCKETS_IMPORT_ERROR,
    header_texts,
    is_secure,
    message_text,
    pattern_problem,
    probe_once,
    probe_with_retries,
    tls_context,
    url_problem,
)


def check_params(module):
    """Fail early on options that no attempt could ever satisfy."""
    params = module.params
    problem = url_problem(params["url"])
    if problem:
        module.fail_json(msg=problem)
    if params["timeout"] <= 0:
        module.fail_json(msg="timeout must be more than 0, got %s" % params["timeout"])
    if params["retries"] < 0:
        module.fail_json(msg="retries must be 0 or more, got %s" % params["retries"])
    if params["delay"] < 0:
        module.fail_json(msg="delay must be 0 or more, got %s" % params["delay"])
    if params["health_path"] is not None and not params["health_path"].startswith("/"):
        module.fail_json(msg="health_path must start with /, got %r" % params["health_path"])
    if not params["handshake"] and not params["health_path"]:
        module.fail_json(msg="handshake=false needs health_path: there would be nothing to check")
    problem = params["expect"] is not None and pattern_problem(params["expect"])
    if problem:
        module.fail_json(msg="expect %s" % problem)
    if not params["handshake"] and any(
        params[name] for name in ("echo", "send", "expect", "subprotocols")
    ):
        module.fail_json(msg="echo, send, expect and subprotocols need handshake=true")
    if params["ca_path"] and not is_secure(params["url"]):
        module.warn("ca_path is ignored for the ws:// URL %s" % params["url"])


def tls_for(module):
    """The TLS context for a wss:// URL, None for ws://."""
    params = module.params
    if not is_secure(params["url"]):
        return None
    try:
        return tls_context(params["validate_certs"], params["ca_path"])
    except (OSError, ValueError) as exc:
        # A missing or unreadable bundle is a mistake in the play, not a failed probe.
        module.fail_json(msg="cannot load the CA bundle %s: %s" % (params["ca_path"], exc))


def target(params):
    if params["unix_socket"]:
        return "%s over unix socket %s" % (params["url"], params["unix_socket"])
    return params["url"]


def main():
    module = AnsibleModule(
        argument_spec=dict(
            url=dict(type="str", required=True),
            unix_socket=dict(type="path"),
            connect_address=dict(type="str"),
            health_path=dict(type="str"),
            handshake=dict(type="bool", default=True),
            echo=dict(type="str"),
            send=dict(type="raw"),
            expect=dict(type="str"),
            subprotocols=dict(type="list", elements="str", default=[]),
            ping=dict(type="bool", default=True),
            timeout=dict(type="float", default=5),
            retries=dict(type="int", default=0),
            delay=dict(type="float", default=1),
            validate_certs=dict(type="bool", default=True),
            ca_path=dict(type="path"),
            headers=dict(type="dict", default={}, no_log=True),
        ),
        supports_check_mode=True,
        mutually_exclusive=[("unix_socket", "connect_address")],
    )
    if not HAS_WEBSOCKETS:
        module.fail_json(msg=missing_required_lib("websockets"), exception=WEBSOCKETS_IMPORT_ERROR)
    check_params(module)
    params = module.params

    attempt = functools.partial(
        probe_once,
        params["url"],
        unix_socket=params["unix_socket"],
        connect_address=params["connect_address"],
        health_path=params["health_path"],
        handshake=params["handshake"],
        message=params["echo"],
        send=message_text(params["send"]),
        expect=params["expect"],
        subprotocols=params["subprotocols"],
        ping=params["ping"],
        timeout=params["timeout"],
        tls=tls_for(module),
        headers=header_texts(params["headers"]),
    )
    result, errors, attempts = probe_with_retries(attempt, params["retries"], params["delay"])
    if result is None:
        module.fail_json(
            msg="WebSocket probe of %s failed after %d attempt%s: %s"
            % (target(params), attempts, "" if attempts == 1 else "s", errors[-1]),
            attempts=attempts,
            errors=errors,
        )
    module.exit_json(changed=False, attempts=attempts, errors=errors, **result)


if __name__ == "__main__":
    main()
