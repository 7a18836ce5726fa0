# -*- coding: utf-8 -*-
# Copyright: wsfleet.deploy maintainers
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Logic behind websocket_probe: one real WebSocket session, and retries of it.

Every failure is turned into a ProbeError whose text says, in plain words, which step
failed and why, because that text is all an operator sees of a failed rolling restart.
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import http.client
import inspect
import json
import re
import socket
import ssl
import time
import traceback

try:
    from websockets.exceptions import (
        ConnectionClosed,
        InvalidHandshake,
        InvalidStatus,
        InvalidURI,
    )
    from websockets.sync.client import connect, unix_connect
    from websockets.uri import parse_uri
except ImportError:
    HAS_WEBSOCKETS = False
    WEBSOCKETS_IMPORT_ERROR = traceback.format_exc()
else:
    HAS_WEBSOCKETS = True
    WEBSOCKETS_IMPORT_ERROR = None

SCHEMES = ("ws://", "wss://")

# 1000 is the code the probe closes with; 1001 means the server is going away, which is
# still a clean end of a session that worked.
CLEAN_CLOSE_CODES = (1000, 1001)

# Replies are quoted in error messages: keep a huge or binary reply from flooding the log.
MAX_QUOTED_REPLY = 200


class ProbeError(Exception):
    """One failed attempt; str() is the reason in plain words."""


def url_problem(url):
    """Why url cannot be probed, or None when it is a valid ws:// or wss:// URL."""
    if not url.lower().startswith(SCHEMES):
        return "url must start with ws:// or wss://, got %r" % url
    try:
        parse_uri(url)
    except InvalidURI as exc:
        return "url %r is not a valid WebSocket URL: %s" % (url, exc.msg)
    except ValueError as exc:  # a port that is not a number
        return "url %r is not a valid WebSocket URL: %s" % (url, exc)
    return None


def is_secure(url):
    return url.lower().startswith("wss://")


def tls_context(validate_certs=True, ca_path=None):
    """The TLS settings for a wss:// URL.

    With ca_path only that bundle is trusted, not the system's, so that a probe against a
    test CA cannot pass through a certificate from a public one by accident.
    """
    context = ssl.create_default_context(cafile=ca_path)
    if not validate_certs:
        context.check_hostname = False
        context.verify_mode = ssl.CERT_NONE
    return context


def elapsed_ms(started):
    return round((time.monotonic() - started) * 1000, 1)


def quote(value):
    text = repr(value)
    if len(text) > MAX_QUOTED_REPLY:
        text = text[:MAX_QUOTED_REPLY] + "... (%d chars)" % len(value)
    return text


def tls_reason(exc):
    """'wrong version number' out of '[SSL: WRONG_VERSION_NUMBER] wrong version number (...)'."""
    reason = re.sub(r"^\[[^]]*\]\s*|\s*\(_ssl\.c:\d+\)$", "", str(exc.args[-1]))
    if exc.reason == "WRONG_VERSION_NUMBER":
        # What a wss:// URL gets from a server that does not speak TLS.
        reason += " (does the server speak TLS?)"
    return reason


def describe_open_error(exc, timeout, unix_socket=None):
    """Plain words for an exception raised while opening the connection."""
    if isinstance(exc, InvalidStatus):
        return "handshake rejected with HTTP %d" % exc.response.status_code
    if isinstance(exc, ConnectionRefusedError):
        return "connection refused"
    if isinstance(exc, FileNotFoundError) and unix_socket:
        return "unix socket %s does not exist" % unix_socket
    if isinstance(exc, PermissionError) and unix_socket:
        return "permission denied on unix socket %s" % unix_socket
    if isinstance(exc, ConnectionResetError):
        return "connection reset by the server during the handshake"
    if isinstance(exc, socket.gaierror):
        return "cannot resolve the host name: %s" % exc.strerror
    if isinstance(exc, ssl.SSLCertVerificationError):
        return "TLS certificate not trusted: %s" % (exc.verify_message or exc)
    if isinstance(exc, ssl.SSLError):
        return "TLS handshake failed: %s" % tls_reason(exc)
    # socket.timeout is TimeoutError since Python 3.10; both name the same class there.
    if isinstance(exc, (TimeoutError, socket.timeout)):
        return "no handshake within %gs" % timeout
    if isinstance(exc, InvalidHandshake):
        cause = exc.__cause__
        return "handshake failed: %s%s" % (exc, " (%s)" % cause if cause else "")
    if isinstance(exc, OSError):
        return "cannot connect: %s" % (exc.strerror or exc)
    return "cannot connect: %s: %s" % (type(exc).__name__, exc)


def open_websocket(
    url,
    unix_socket=None,
    tls=None,
    headers=None,
    timeout=5.0,
    connect_address=None,
    subprotocols=None,
):
    """Connect and complete the opening handshake, or raise ProbeError.

    With connect_address the TCP connection goes there instead of to the URL's host, which
    still names the server in the Host header, in SNI and in the certificate check.
    """
    options = dict(
        additional_headers=headers or None,
        subprotocols=subprotocols or None,
        open_timeout=timeout,
        close_timeout=timeout,
    )
    # No keepalive pings of its own: the probe pings once, explicitly, when asked.
    # websockets < 15 (still allowed by the app) has no keepalive in its sync client.
    if "ping_interval" in inspect.signature(connect).parameters:
        options["ping_interval"] = None
    if tls is not None:
        options["ssl"] = tls
    try:
        if unix_socket:
            return unix_connect(unix_socket, url, **options)
        if connect_address:
            port = parse_uri(url).port
            options["sock"] = socket.create_connection((connect_address, port), timeout=timeout)
        return connect(url, **options)
    except Exception as exc:
        raise ProbeError(describe_open_error(exc, timeout, unix_socket)) from exc


def check_ping(websocket, timeout):
    """Send a ping and wait for its pong; return the round trip in ms."""
    started = time.monotonic()
    try:
        pong = websocket.ping()
    except ConnectionClosed as exc:
        raise ProbeError("connection closed before the ping: %s" % exc) from exc
    if not pong.wait(timeout):
        if websocket.close_code is not None:
            raise ProbeError("connection closed before the pong (code %d)" % websocket.close_code)
        raise ProbeError("no pong within %gs" % timeout)
    return elapsed_ms(started)


def message_text(value):
    """The text of a message to send. A JSON message set in YAML may reach a module as the
    mapping or list it parses to (ansible-core before 2.19 turns a templated '{...}' into one):
    it is sent as JSON again."""
    if value is None or isinstance(value, str):
        return value
    if isinstance(value, (dict, list)):
        return json.dumps(value)
    return str(value)


def pattern_problem(pattern):
    """Why a pattern to expect cannot be used (re.search of a reply), or None."""
    try:
        re.compile(pattern)
    except (re.error, TypeError) as exc:
        return "is not a valid regular expression: %s" % exc
    return None


def header_texts(headers):
    """Handshake headers as text: values from YAML may be numbers, and HTTP wants text."""
    return dict((str(name), str(value)) for name, value in (headers or {}).items())


def check_path_problem(path):
    """Why a path cannot follow the host in a WebSocket URL, or None."""
    if not path.startswith("/"):
        return "must start with /, got %r" % path
    if "#" in path:
        return "must not hold a fragment (#), which a WebSocket URL cannot carry: %r" % path
    return None


def check_subprotocol(websocket, offered):
    """The subprotocol the server chose, which must be one of those offered (when any were:
    an app that requires one serves its clients only in it)."""
    chosen = websocket.subprotocol
    if offered and chosen is None:
        raise ProbeError(
            "the server chose none of the subprotocols offered: %s" % ", ".join(offered)
        )
    return chosen


def receive(websocket, timeout, what):
    try:
        return websocket.recv(timeout)
    except (TimeoutError, socket.timeout):
        raise ProbeError("no %s within %gs" % (what, timeout)) from None
    except ConnectionClosed as exc:
        raise ProbeError("connection closed before the %s: %s" % (what, exc)) from exc


def send_message(websocket, message):
    try:
        websocket.send(message)
    except ConnectionClosed as exc:
        raise ProbeError("connection closed before the message was sent: %s" % exc) from exc


def check_echo(websocket, message, timeout):
    """Send message and require the identical text back; return the round trip in ms."""
    started = time.monotonic()
    send_message(websocket, message)
    reply = receive(websocket, timeout, "echo")
    if reply != message:
        raise ProbeError("echo mismatch: sent %s, got %s" % (quote(message), quote(reply)))
    return elapsed_ms(started)


def check_reply(websocket, message, expect, timeout):
    """Send message (when set), then, when expect is set, require the next message from the
    server to match that regular expression; return (ms, the reply or None)."""
    started = time.monotonic()
    if message is not None:
        send_message(websocket, message)
    if expect is None:
        return elapsed_ms(started), None
    reply = receive(websocket, timeout, "reply")
    text = reply if isinstance(reply, str) else reply.decode("utf-8", "replace")
    if re.search(expect, text) is None:
        raise ProbeError("reply %s does not match %s" % (quote(reply), quote(expect)))
    return elapsed_ms(started), text


def close_cleanly(websocket, timeout):
    """Run the closing handshake; return the close code the server answered with."""
    websocket.close()
    code = websocket.close_code
    # 1006 is what websockets reports when no close frame came back (timeout or drop).
    if code == 1006:
        raise ProbeError("no closing handshake from the server within %gs" % timeout)
    if code not in CLEAN_CLOSE_CODES:
        raise ProbeError("closing handshake ended with code %s" % code)
    return code


def handshake_response(websocket):
    """Status and headers of the handshake response; repeated headers joined with ', '."""
    headers = {}
    for name, value in websocket.response.headers.raw_items():
        headers[name] = "%s, %s" % (headers[name], value) if name in headers else value
    return websocket.response.status_code, headers


class _UnixHTTPConnection(http.client.HTTPConnection):
    """HTTP over a unix socket: the health check of a process that listens on one."""

    def __init__(self, path, host, timeout):
        http.client.HTTPConnection.__init__(self, host, timeout=timeout)
        self.unix_path = path

    def connect(self):
        self.sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        self.sock.settimeout(self.timeout)
        self.sock.connect(self.unix_path)


def _health_connection(url, unix_socket, tls, timeout, connect_address):
    parsed = parse_uri(url)
    if unix_socket:
        return _UnixHTTPConnection(unix_socket, parsed.host, timeout)
    if parsed.secure:
        connection = http.client.HTTPSConnection(
            parsed.host, parsed.port, timeout=timeout, context=tls
        )
    else:
        connection = http.client.HTTPConnection(parsed.host, parsed.port, timeout=timeout)
    if connect_address:
        # Connect there, keep the URL's host for Host, SNI and the certificate check.
        connection._create_connection = lambda address, *args, **kwargs: socket.create_connection(
            (connect_address, address[1]), *args, **kwargs
        )
    return connection


def check_health(url, path, unix_socket=None, tls=None, timeout=5.0, connect_address=None):
    """GET path on the same server, which must answer 200; return (ms, parsed body)."""
    started = time.monotonic()
    connection = _health_connection(url, unix_socket, tls, timeout, connect_address)
    try:
        connection.request("GET", path, headers={"Cache-Control": "no-cache"})
        response = connection.getresponse()
        body = response.read()
    except Exception as exc:
        raise ProbeError(
            "health check %s: %s" % (path, describe_open_error(exc, timeout, unix_socket))
        ) from exc
    finally:
        connection.close()
    text = body.decode("utf-8", "replace")
    if response.status != 200:
        raise ProbeError(
            "health check %s answered %d %s: %s"
            % (path, response.status, response.reason, quote(text.strip()))
        )
    try:
        return elapsed_ms(started), json.loads(text)
    except ValueError:
        return elapsed_ms(started), text


def probe_once(
    url,
    unix_socket=None,
    message=None,
    ping=True,
    timeout=5.0,
    tls=None,
    headers=None,
    connect_address=None,
    health_path=None,
    handshake=True,
    subprotocols=None,
    send=None,
    expect=None,
):
    """One attempt: the optional health check, then a full session unless handshake is false:
    open (offering subprotocols), ping, echo message, send and expect a reply, close, each
    step when asked. Raise ProbeError on failure."""
    result = {}
    if health_path:
        result["health_ms"], result["health"] = check_health(
            url, health_path, unix_socket, tls, timeout, connect_address
        )
    if not handshake:
        return result
    started = time.monotonic()
    websocket = open_websocket(
        url, unix_socket, tls, headers, timeout, connect_address, subprotocols
    )
    result["open_ms"] = elapsed_ms(started)
    # The with block closes with 1011 if a check fails, so the server is not left waiting.
    with websocket:
        result["response_status"], result["response_headers"] = handshake_response(websocket)
        result["subprotocol"] = check_subprotocol(websocket, subprotocols)
        if ping:
            result["ping_ms"] = check_ping(websocket, timeout)
        if message is not None:
            result["echo_ms"] = check_echo(websocket, message, timeout)
        if send is not None or expect is not None:
            result["reply_ms"], reply = check_reply(websocket, send, expect, timeout)
            if expect is not None:
                result["reply"] = reply
        result["close_code"] = close_cleanly(websocket, timeout)
    return result


def probe_with_retries(attempt, retries=0, delay=1.0, sleep=time.sleep):
    """Call attempt() until it succeeds, at most retries + 1 times.

    Returns (result, errors, attempts): result is None when every attempt failed, and
    errors holds the reason of each failed attempt, in order.
    """
    errors = []
    for number in range(1, retries + 2):
        try:
            return attempt(), errors, number
        except ProbeError as exc:
            errors.append(str(exc))
        if number <= retries:
            sleep(delay)
    return None, errors, retries + 1
