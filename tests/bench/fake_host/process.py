"""A fake app process: GET /healthz on its unix socket (the first argument) answers 200 with
7 connections; on SIGTERM it removes its socket and exits, as the example app does."""

import http.server
import json
import os
import signal
import socketserver
import sys

path = sys.argv[1]


class Handler(http.server.BaseHTTPRequestHandler):
    def do_GET(self):
        body = json.dumps({"status": "ok", "connections": 7}).encode()
        self.send_response(200 if self.path == "/healthz" else 404)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args):
        pass

    def address_string(self):
        return "unix"


def stop(*args):
    os.unlink(path)
    os._exit(0)


signal.signal(signal.SIGTERM, stop)
socketserver.UnixStreamServer(path, Handler).serve_forever()
