"""Helpers shared by the sandbox tests: an HTTP client, a webhook receiver, paths."""

import json
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest
import requests

TOKEN = "sandbox-token"
SECRET = "sandbox-secret"
REPO_ROOT = Path(__file__).resolve().parents[2]
REAL_DATA = REPO_ROOT.parent / "shared" / "data" / "real"


class Client:
    """requests.Session bound to a sandbox's URL and token."""

    def __init__(self, base_url, token=TOKEN):
        self.base_url = base_url
        self.session = requests.Session()
        if token:
            self.session.headers["Authorization"] = f"Bearer {token}"

    def request(self, method, path, **kwargs):
        kwargs.setdefault("timeout", 10)
        return self.session.request(method, self.base_url + path, **kwargs)

    def get(self, path, **kwargs):
        return self.request("GET", path, **kwargs)

    def post(self, path, body=None, **kwargs):
        return self.request("POST", path, json=body, **kwargs)

    def patch(self, path, body=None, **kwargs):
        return self.request("PATCH", path, json=body, **kwargs)

    def put(self, path, body=None, **kwargs):
        return self.request("PUT", path, json=body, **kwargs)

    def delete(self, path, **kwargs):
        return self.request("DELETE", path, **kwargs)


class WebhookReceiver:
    """A local HTTP server that records webhook deliveries.

    ``statuses`` lists the status codes to return, in order; once it is used up
    every request gets 204.
    """

    def __init__(self):
        self.requests = []
        self.statuses = []
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self):
                length = int(self.headers.get("Content-Length", 0))
                body = self.rfile.read(length).decode()
                receiver.requests.append(
                    {"path": self.path, "headers": dict(self.headers), "body": body}
                )
                status = receiver.statuses.pop(0) if receiver.statuses else 204
                self.send_response(status)
                self.send_header("Content-Length", "0")
                self.end_headers()

            def log_message(self, format, *args):
                pass

        self._server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self._server.server_address[1]}/hubspot/webhook"
        self._thread = threading.Thread(
            target=self._server.serve_forever,
            kwargs={"poll_interval": 0.05},
            daemon=True,
        )
        self._thread.start()

    def events(self):
        return [
            event for request in self.requests for event in json.loads(request["body"])
        ]

    def close(self):
        self._server.shutdown()
        self._server.server_close()


def real_file(name):
    """Return the path of a real export, or skip when ../shared is absent."""
    path = REAL_DATA / name
    if not path.exists():
        pytest.skip(
            f"real data file {path} is absent: the ../shared checkout is missing"
        )
    return path
