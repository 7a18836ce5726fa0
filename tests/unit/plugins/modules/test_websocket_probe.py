# Copyright: wsfleet.deploy maintainers
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""websocket_probe against real websockets servers on 127.0.0.1 and on unix sockets."""

import contextlib
import datetime
import ipaddress
import json
import os
import shutil
import socket
import ssl
import tempfile
import threading
from http import HTTPStatus

import pytest
from ansible.module_utils import basic
from ansible_collections.wsfleet.deploy.plugins.modules import websocket_probe
from module_runner import run_module
from websockets.sync.server import serve, unix_serve
from websockets.utils import accept_key

# Short enough that the failure tests stay fast, long enough for a loaded CI machine.
FAIL_TIMEOUT = 0.5
# For probes that must succeed over TLS: they check trust, not speed, and a TLS handshake on
# a loaded 2-core machine once took more than the module's 5 s default. The test server gets
# as long to finish its side of the handshake (its own default, 10 s, once closed a probe's
# connection before answering, in CI).
TLS_TIMEOUT = 30
# How long a test waits for the server's handler thread to see the end of a session.
RECORD_WAIT_SECONDS = 30


@pytest.fixture(autouse=True)
def no_proxy(monkeypatch):
    # websockets honours the environment's proxy; the test servers are local.
    for name in (
        "http_proxy",
        "https_proxy",
        "all_proxy",
        "HTTP_PROXY",
        "HTTPS_PROXY",
        "ALL_PROXY",
    ):
        monkeypatch.delenv(name, raising=False)


def run_probe(**args):
    return run_module(websocket_probe.main, **args)


def probe(**args):
    ok, result = run_probe(**args)
    assert ok, result
    return result


def probe_fails(**args):
    ok, result = run_probe(**args)
    assert not ok, result
    return result


# Servers


def echo(websocket):
    for message in websocket:
        websocket.send(message)


def shout(websocket):
    for message in websocket:
        websocket.send(message.upper())


def swallow(websocket):
    """Read every message and answer none."""
    for _ignored in websocket:
        pass


@contextlib.contextmanager
def running(server):
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield server
    finally:
        server.shutdown()
        thread.join(10)


@pytest.fixture
def servers():
    """Start websockets servers that stop at the end of the test."""
    with contextlib.ExitStack() as stack:

        def tcp(handler, tls=None, **kwargs):
            server = stack.enter_context(running(serve(handler, "127.0.0.1", 0, ssl=tls, **kwargs)))
            port = server.socket.getsockname()[1]
            return f"{'wss' if tls else 'ws'}://127.0.0.1:{port}/"

        def unix(handler, **kwargs):
            # A short path: unix socket paths are limited to about 100 bytes.
            directory = tempfile.mkdtemp(prefix="wsp", dir="/tmp")
            stack.callback(shutil.rmtree, directory, True)
            path = os.path.join(directory, "s")
            stack.enter_context(running(unix_serve(handler, path, **kwargs)))
            return path

        yield tcp, unix


@pytest.fixture
def tcp_server(servers):
    return servers[0]


@pytest.fixture
def unix_server(servers):
    return servers[1]


def answer_handshake_then_nothing(connection):
    """Accept the opening handshake by hand, then read and ignore everything until EOF."""
    with connection:
        request = b""
        while b"\r\n\r\n" not in request:
            chunk = connection.recv(4096)
            if not chunk:
                return
            request += chunk
        headers = dict(
            line.split(": ", 1) for line in request.decode().split("\r\n")[1:] if ": " in line
        )
        accept = accept_key(headers["Sec-WebSocket-Key"])
        connection.sendall(
            (
                "HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
                f"Sec-WebSocket-Accept: {accept}\r\n\r\n"
            ).encode()
        )
        while connection.recv(4096):
            pass


@pytest.fixture
def mute_server():
    """A server that completes the handshake, then never answers a ping or a close."""
    listener = socket.create_server(("127.0.0.1", 0))
    listener.settimeout(0.1)
    stop = threading.Event()

    def serve_connections():
        while not stop.is_set():
            try:
                connection, _peer = listener.accept()
            except TimeoutError:
                continue
            connection.settimeout(None)
            answer_handshake_then_nothing(connection)

    thread = threading.Thread(target=serve_connections, daemon=True)
    thread.start()
    yield f"ws://127.0.0.1:{listener.getsockname()[1]}/"
    stop.set()
    thread.join(10)
    listener.close()


@pytest.fixture
def refused_url():
    """A URL whose port is bound but not listening, so every connection is refused."""
    with socket.socket() as bound:
        bound.bind(("127.0.0.1", 0))
        yield f"ws://127.0.0.1:{bound.getsockname()[1]}/"


# TLS


@pytest.fixture(scope="module")
def test_ca():
    """A CA and a server certificate for 127.0.0.1 it signed, as PEM files."""
    x509 = pytest.importorskip("cryptography.x509")
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import NameOID

    def name(common_name):
        return x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, common_name)])

    now = datetime.datetime.now(datetime.UTC)

    def certificate(subject, key, issuer, issuer_key, extensions):
        builder = (
            x509.CertificateBuilder()
            .subject_name(subject)
            .issuer_name(issuer)
            .public_key(key.public_key())
            .serial_number(x509.random_serial_number())
            .not_valid_before(now - datetime.timedelta(hours=1))
            .not_valid_after(now + datetime.timedelta(days=1))
        )
        for extension, critical in extensions:
            builder = builder.add_extension(extension, critical=critical)
        return builder.sign(issuer_key, hashes.SHA256())

    ca_key, server_key = (
        ec.generate_private_key(ec.SECP256R1()),
        ec.generate_private_key(ec.SECP256R1()),
    )
    ca_cert = certificate(
        name("wsfleet test CA"),
        ca_key,
        name("wsfleet test CA"),
        ca_key,
        [(x509.BasicConstraints(ca=True, path_length=None), True)],
    )
    server_cert = certificate(
        name("127.0.0.1"),
        server_key,
        ca_cert.subject,
        ca_key,
        [
            (
                x509.SubjectAlternativeName(
                    [x509.IPAddress(ipaddress.ip_address("127.0.0.1")), x509.DNSName("probe.test")]
                ),
                False,
            )
        ],
    )

    directory = tempfile.mkdtemp(prefix="wsp", dir="/tmp")
    paths = {name: os.path.join(directory, name) for name in ("ca.pem", "cert.pem", "key.pem")}
    with open(paths["ca.pem"], "wb") as handle:
        handle.write(ca_cert.public_bytes(serialization.Encoding.PEM))
    with open(paths["cert.pem"], "wb") as handle:
        handle.write(server_cert.public_bytes(serialization.Encoding.PEM))
    with open(paths["key.pem"], "wb") as handle:
        handle.write(
            server_key.private_bytes(
                serialization.Encoding.PEM,
                serialization.PrivateFormat.PKCS8,
                serialization.NoEncryption(),
            )
        )
    yield paths
    shutil.rmtree(directory, True)


@pytest.fixture
def server_tls(test_ca):
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.load_cert_chain(test_ca["cert.pem"], test_ca["key.pem"])
    return context


# Success


def test_echo_over_tcp(tcp_server):
    result = probe(url=tcp_server(echo), echo="hello")
    assert result["changed"] is False
    assert result["attempts"] == 1
    assert result["errors"] == []
    assert result["response_status"] == 101
    assert result["response_headers"]["Upgrade"].lower() == "websocket"
    assert result["close_code"] == 1000
    assert {"open_ms", "ping_ms", "echo_ms"} <= set(result)


def test_echo_over_unix_socket_sends_host_and_path_of_url(unix_server):
    seen = []

    def record_request(connection, request):
        seen.append((request.headers["Host"], request.path))

    path = unix_server(echo, process_request=record_request)
    result = probe(url="ws://app.internal/live", unix_socket=path, echo="hello")
    assert result["close_code"] == 1000
    assert "echo_ms" in result
    assert seen == [("app.internal", "/live")]


def test_ping_only(tcp_server):
    received = []

    def record(websocket):
        received.extend(websocket)

    result = probe(url=tcp_server(record))
    assert "ping_ms" in result
    assert "echo_ms" not in result
    assert received == []


def test_neither_ping_nor_message_only_opens_and_closes(tcp_server):
    result = probe(url=tcp_server(echo), ping=False)
    assert "ping_ms" not in result
    assert "echo_ms" not in result
    assert result["close_code"] == 1000


def test_extra_headers_reach_the_server(tcp_server):
    seen = []

    def record_request(connection, request):
        seen.append((request.headers.get("X-Probe"), request.headers.get("Origin")))

    url = tcp_server(echo, process_request=record_request)
    probe(url=url, headers={"X-Probe": 7, "Origin": "https://ws.example.org"})
    assert seen == [("7", "https://ws.example.org")]


def test_check_mode_still_probes(tcp_server):
    received = []

    def record_and_echo(websocket):
        for message in websocket:
            received.append(message)
            websocket.send(message)

    result = probe(url=tcp_server(record_and_echo), echo="in check mode", _ansible_check_mode=True)
    assert result["changed"] is False
    assert received == ["in check mode"]


def test_retries_until_the_server_accepts(tcp_server):
    requests = []

    def unavailable_once(connection, request):
        requests.append(request.path)
        if len(requests) == 1:
            return connection.respond(HTTPStatus.SERVICE_UNAVAILABLE, "starting\n")
        return None

    result = probe(
        url=tcp_server(echo, process_request=unavailable_once), echo="hi", retries=3, delay=0
    )
    assert result["attempts"] == 2
    assert result["errors"] == ["handshake rejected with HTTP 503"]


# Failures


def test_echo_mismatch(tcp_server):
    result = probe_fails(url=tcp_server(shout), echo="a")
    assert "echo mismatch: sent 'a', got 'A'" in result["msg"]
    assert result["attempts"] == 1
    assert result["errors"] == ["echo mismatch: sent 'a', got 'A'"]


def test_http_404_rejection(tcp_server):
    def not_found(connection, request):
        return connection.respond(HTTPStatus.NOT_FOUND, "no such endpoint\n")

    result = probe_fails(url=tcp_server(echo, process_request=not_found))
    assert "handshake rejected with HTTP 404" in result["msg"]


def test_connection_refused_with_retries(refused_url):
    result = probe_fails(url=refused_url, retries=2, delay=0)
    assert result["attempts"] == 3
    assert result["errors"] == ["connection refused"] * 3
    assert "failed after 3 attempts: connection refused" in result["msg"]


def test_missing_unix_socket():
    result = probe_fails(url="ws://localhost/", unix_socket="/nonexistent/wsp.sock")
    assert "unix socket /nonexistent/wsp.sock does not exist" in result["msg"]


def test_no_pong_times_out(mute_server):
    result = probe_fails(url=mute_server, timeout=FAIL_TIMEOUT)
    assert result["errors"] == [f"no pong within {FAIL_TIMEOUT:g}s"]


def test_no_echo_times_out(tcp_server):
    result = probe_fails(url=tcp_server(swallow), echo="hello?", timeout=FAIL_TIMEOUT)
    assert result["errors"] == [f"no echo within {FAIL_TIMEOUT:g}s"]


def test_no_closing_handshake_fails(mute_server):
    result = probe_fails(url=mute_server, ping=False, timeout=FAIL_TIMEOUT)
    assert result["errors"] == [f"no closing handshake from the server within {FAIL_TIMEOUT:g}s"]


# URLs and TLS


@pytest.mark.parametrize("url", ["127.0.0.1:8080/", "http://127.0.0.1/", "https://example.org/"])
def test_url_needs_a_websocket_scheme(url):
    result = probe_fails(url=url)
    assert result["msg"] == f"url must start with ws:// or wss://, got {url!r}"
    assert "attempts" not in result


def test_url_needs_a_host():
    result = probe_fails(url="ws:///live")
    assert "is not a valid WebSocket URL: hostname isn't provided" in result["msg"]


def test_wss_url_against_a_plain_server(tcp_server):
    url = tcp_server(echo).replace("ws://", "wss://")
    result = probe_fails(url=url, timeout=FAIL_TIMEOUT)
    assert "TLS handshake failed" in result["msg"]


def test_ws_url_against_a_tls_server(tcp_server, server_tls):
    url = tcp_server(echo, tls=server_tls).replace("wss://", "ws://")
    result = probe_fails(url=url, timeout=FAIL_TIMEOUT)
    assert "handshake failed" in result["msg"]


def test_wss_with_ca_path(tcp_server, server_tls, test_ca):
    result = probe(
        url=tcp_server(echo, tls=server_tls, open_timeout=TLS_TIMEOUT),
        echo="secure",
        ca_path=test_ca["ca.pem"],
        timeout=TLS_TIMEOUT,
    )
    assert result["close_code"] == 1000
    assert "echo_ms" in result


def test_connect_address_keeps_the_url_host_for_tls(tcp_server, server_tls, test_ca):
    # probe.test resolves nowhere: the connection goes to connect_address, the name
    # stays in SNI and in the certificate check.
    port = tcp_server(echo, tls=server_tls, open_timeout=TLS_TIMEOUT).rsplit(":", 1)[1]
    result = probe(
        url="wss://probe.test:" + port,
        connect_address="127.0.0.1",
        echo="by address",
        ca_path=test_ca["ca.pem"],
        timeout=TLS_TIMEOUT,
    )
    assert result["close_code"] == 1000


def test_connect_address_and_the_certificate_name_must_match(tcp_server, server_tls, test_ca):
    port = tcp_server(echo, tls=server_tls).rsplit(":", 1)[1]
    result = probe_fails(
        url="wss://other.test:" + port,
        connect_address="127.0.0.1",
        ca_path=test_ca["ca.pem"],
        timeout=TLS_TIMEOUT,
    )
    assert "other.test" in result["msg"] or "not trusted" in result["msg"]


def test_connect_address_over_plain_tcp(tcp_server):
    port = tcp_server(echo).rsplit(":", 1)[1]
    result = probe(url="ws://nowhere.invalid:" + port, connect_address="127.0.0.1", echo="x")
    assert result["close_code"] == 1000


def test_connect_address_excludes_unix_socket():
    result = probe_fails(url="ws://localhost/", unix_socket="/run/x.sock", connect_address="::1")
    assert "mutually exclusive" in result["msg"]


def test_wss_untrusted_certificate(tcp_server, server_tls):
    result = probe_fails(url=tcp_server(echo, tls=server_tls))
    assert "TLS certificate not trusted" in result["msg"]


def test_wss_without_validation(tcp_server, server_tls):
    result = probe(
        url=tcp_server(echo, tls=server_tls, open_timeout=TLS_TIMEOUT),
        echo="insecure",
        validate_certs=False,
        timeout=TLS_TIMEOUT,
    )
    assert result["close_code"] == 1000


def test_unreadable_ca_path(tcp_server, server_tls):
    result = probe_fails(url=tcp_server(echo, tls=server_tls), ca_path="/nonexistent/ca.pem")
    assert result["msg"].startswith("cannot load the CA bundle /nonexistent/ca.pem")


def test_ca_path_with_ws_url_warns(tcp_server, test_ca, monkeypatch):
    warnings = []
    monkeypatch.setattr(basic.AnsibleModule, "warn", lambda self, text: warnings.append(text))
    url = tcp_server(echo)
    probe(url=url, ca_path=test_ca["ca.pem"])
    assert warnings == [f"ca_path is ignored for the ws:// URL {url}"]


def test_missing_websockets_library(monkeypatch):
    monkeypatch.setattr(websocket_probe, "HAS_WEBSOCKETS", False)
    result = probe_fails(url="ws://127.0.0.1/")
    assert "websockets" in result["msg"]


def health_answer(status, body):
    """A process_request that answers /healthz itself, as the app contract asks."""

    def process_request(connection, request):
        if request.path == "/healthz":
            response = connection.respond(status, body)
            return response
        return None

    return process_request


def test_health_check_then_session_over_a_unix_socket(unix_server):
    path = unix_server(
        echo, process_request=health_answer(200, '{"status": "ok", "connections": 7}')
    )
    result = probe(url="ws://localhost/", unix_socket=path, health_path="/healthz", echo="x")
    assert result["health"] == {"status": "ok", "connections": 7}
    assert result["close_code"] == 1000


def test_health_check_alone_counts_connections_without_a_session(tcp_server):
    url = tcp_server(echo, process_request=health_answer(200, '{"connections": 3}'))
    result = probe(url=url, health_path="/healthz", handshake=False)
    assert result["health"] == {"connections": 3}
    assert "open_ms" not in result


def test_health_check_failing_names_the_status_and_body(tcp_server):
    url = tcp_server(echo, process_request=health_answer(503, "draining"))
    result = probe_fails(url=url, health_path="/healthz", retries=1, delay=0)
    assert result["attempts"] == 2
    assert "health check /healthz answered 503" in result["msg"]
    assert "draining" in result["msg"]


def test_health_check_on_a_missing_socket(tmp_path):
    result = probe_fails(
        url="ws://localhost/", unix_socket=str(tmp_path / "gone.sock"), health_path="/healthz"
    )
    assert "health check /healthz" in result["msg"]


def test_health_path_must_be_absolute(tcp_server):
    assert "must start with /" in probe_fails(url=tcp_server(echo), health_path="healthz")["msg"]


def test_no_handshake_needs_a_health_path(tcp_server):
    assert "needs health_path" in probe_fails(url=tcp_server(echo), handshake=False)["msg"]


# An app that is not an echo: a path, a token, a subprotocol, a greeting, a request and its answer

TOKEN = {"Authorization": "Bearer s3cret"}


def greeter(websocket):
    websocket.send("welcome")
    for _ignored in websocket:
        pass


def status_service(websocket):
    """Answers each request with a status line."""
    for message in websocket:
        websocket.send(json.dumps({"type": "status", "ok": True, "asked": message}))


def only_at_ws_with_a_token(connection, request):
    if request.path != "/ws?room=1":
        return connection.respond(HTTPStatus.NOT_FOUND, "no such endpoint\n")
    if request.headers.get("Authorization") != TOKEN["Authorization"]:
        return connection.respond(HTTPStatus.UNAUTHORIZED, "token required\n")
    return None


@pytest.fixture
def app_url(tcp_server):
    """URL of an app at /ws?room=1, with a token and subprotocol status.v1: handler -> url."""

    def start(handler):
        base = tcp_server(
            handler, process_request=only_at_ws_with_a_token, subprotocols=["status.v1"]
        )
        return base + "ws?room=1"

    return start


def test_a_greeting_is_expected_without_sending(app_url):
    result = probe(
        url=app_url(greeter),
        headers=TOKEN,
        subprotocols=["status.v2", "status.v1"],
        expect="^welcome$",
    )
    assert (result["subprotocol"], result["reply"]) == ("status.v1", "welcome")
    assert "reply_ms" in result


def test_a_request_gets_its_answer(app_url):
    result = probe(
        url=app_url(status_service),
        headers=TOKEN,
        subprotocols=["status.v1"],
        send="disk",
        expect='"ok": true',
    )
    assert json.loads(result["reply"]) == {"type": "status", "ok": True, "asked": "disk"}


def test_a_message_sent_with_nothing_expected_is_delivered(app_url):
    received = []
    session_ended = threading.Event()

    def record(websocket):
        received.extend(websocket)
        session_ended.set()

    result = probe(url=app_url(record), headers=TOKEN, subprotocols=["status.v1"], send="hello")
    assert "reply" not in result
    # The server's handler runs in its own thread and may finish after the probe returned.
    assert session_ended.wait(RECORD_WAIT_SECONDS)
    assert received == ["hello"]


@pytest.mark.parametrize(
    ("changes", "error"),
    [
        ({"headers": {}}, "handshake rejected with HTTP 401"),
        ({"path": "/"}, "handshake rejected with HTTP 404"),
        # websockets refuses a client that offers none of its subprotocols.
        ({"subprotocols": ["chat"]}, "handshake rejected with HTTP 400"),
        ({"subprotocols": []}, "handshake rejected with HTTP 400"),
        ({"expect": "^goodbye$"}, "reply 'welcome' does not match '^goodbye$'"),
    ],
)
def test_what_the_app_requires_is_checked(app_url, changes, error):
    options = {
        "url": app_url(greeter),
        "headers": TOKEN,
        "subprotocols": ["status.v1"],
        "expect": "welcome",
    }
    if "path" in changes:
        options["url"] = options["url"].split("/ws?")[0] + changes.pop("path")
    options.update(changes)
    assert error in probe_fails(**options)["msg"]


def test_no_subprotocol_offered_none_chosen(tcp_server):
    assert probe(url=tcp_server(echo))["subprotocol"] is None


def test_offered_subprotocols_must_be_chosen(tcp_server):
    # A server that knows no subprotocol answers without one: the app's clients could not talk.
    result = probe_fails(url=tcp_server(echo), subprotocols=["status.v1"])
    assert "chose none of the subprotocols offered: status.v1" in result["msg"]


def test_a_binary_reply_is_read_as_text(tcp_server):
    def binary(websocket):
        websocket.send(b"ready")
        websocket.wait_closed()

    assert probe(url=tcp_server(binary), expect="^ready$")["reply"] == "ready"


def test_no_reply_times_out(tcp_server):
    result = probe_fails(url=tcp_server(swallow), send="anyone?", expect=".", timeout=FAIL_TIMEOUT)
    assert "no reply within" in result["msg"]


def test_the_token_stays_out_of_the_result(app_url):
    # Failed, so that the message quoting the attempt is there too.
    result = probe_fails(url=app_url(greeter), headers=TOKEN, expect="^goodbye$")
    assert "s3cret" not in json.dumps(result)


@pytest.mark.parametrize(
    ("args", "error"),
    [
        ({"expect": "("}, "expect is not a valid regular expression"),
        ({"handshake": False, "health_path": "/healthz", "send": "x"}, "need handshake=true"),
    ],
)
def test_send_and_expect_refused_when_they_cannot_work(tcp_server, args, error):
    assert error in probe_fails(url=tcp_server(echo), **args)["msg"]


def test_a_json_message_set_as_a_mapping_is_sent_as_json(app_url):
    # What ansible-core before 2.19 makes of a templated '{"type": "status"}'.
    result = probe(
        url=app_url(status_service),
        headers=TOKEN,
        subprotocols=["status.v1"],
        send={"type": "status"},
        expect='"ok": true',
    )
    assert json.loads(json.loads(result["reply"])["asked"]) == {"type": "status"}
