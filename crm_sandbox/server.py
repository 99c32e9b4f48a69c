"""The sandbox HTTP server: HubSpot's CRM API plus a control API, on loopback only.

Programmatic use (tests start it in-process)::

    from crm_sandbox.server import SandboxServer

    srv = SandboxServer(port=0, access_token="sandbox-token",
                        client_secret="sandbox-secret", rate_limit=100,
                        rate_window=10.0, webhook_url=None, auto_deliver=False)
    srv.start()            # background thread; srv.base_url is http://127.0.0.1:<port>
    srv.store              # the in-memory CRM data (crm_sandbox.store.Store)
    srv.faults             # fault switches (crm_sandbox.faults.Faults)
    srv.webhooks.flush()   # deliver queued webhook events now
    srv.stop()

Each request to ``/crm/...`` passes these steps in order: bearer-token
authentication (401), added latency, a forced or random fault, the rolling
rate limit per token (429), the token's scopes (403), then the endpoint.
Requests to ``/_sandbox/...`` go to the control API (crm_sandbox.control).
"""

import logging
import socket
import threading
import time
from collections import Counter
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

from . import faults as fault_kinds
from . import schema
from .api import CrmApi
from .control import ControlApi
from .csv_loader import DEMO_FILES, load_csv
from .errors import ApiError
from .protocol import Request, Response
from .ratelimit import SECONDLY, RateDecision, RateLimiter, rate_limit_error
from .store import Store
from .webhooks import DEFAULT_APP_ID, DEFAULT_PORTAL_ID, WebhookDispatcher

_logger = logging.getLogger(__name__)

# Seconds between checks for a stop request: the worst-case wait of stop().
SHUTDOWN_POLL_INTERVAL = 0.05
LOOPBACK_HOSTS = {"127.0.0.1": "127.0.0.1", "localhost": "127.0.0.1"}

_HTML_ERROR_PAGE = (
    b"<html><head><title>Service unavailable</title></head>"
    b"<body><h1>The server is temporarily unable to service your request.</h1>"
    b"</body></html>"
)


@dataclass
class AccessToken:
    """A private-app access token: its scopes and the app it belongs to."""

    token: str
    scopes: set = field(default_factory=lambda: set(schema.all_scopes()))
    app_id: int = DEFAULT_APP_ID


class SandboxServer:
    """A HubSpot-like CRM server for tests and demos; listens on 127.0.0.1 only."""

    def __init__(
        self,
        port=0,
        access_token="sandbox-token",
        client_secret="sandbox-secret",
        rate_limit=100,
        rate_window=10.0,
        webhook_url=None,
        auto_deliver=False,
        host="127.0.0.1",
        admin_token=None,
        scopes=None,
        app_id=DEFAULT_APP_ID,
        portal_id=DEFAULT_PORTAL_ID,
        search_rate_limit=None,
    ):
        if host not in LOOPBACK_HOSTS:
            raise ValueError(f"The sandbox listens on 127.0.0.1 only, not on {host!r}.")
        self.host = LOOPBACK_HOSTS[host]
        self.port = port
        self.app_id = app_id
        self.store = Store()
        self.faults = fault_kinds.Faults()
        self.webhooks = WebhookDispatcher(
            url=webhook_url,
            client_secret=client_secret,
            app_id=app_id,
            portal_id=portal_id,
        )
        self.store.listeners.append(self.webhooks.handle_event)
        self.rate_limiter = RateLimiter(rate_limit, rate_window)
        # HubSpot limits search calls separately (five per second per account);
        # off unless given, so tests that search in a loop stay deterministic.
        self.search_rate_limiter = RateLimiter(search_rate_limit, 1.0, policy=SECONDLY)
        self.access_token = access_token
        self.admin_token = admin_token or access_token
        self.tokens = {}
        self.add_token(access_token, scopes, app_id)
        self.request_counts = Counter()
        self.api = CrmApi(self.store)
        self.control = ControlApi(self)
        self._auto_deliver = auto_deliver
        self._httpd = None
        self._thread = None

    # -- lifecycle -----------------------------------------------------

    def start(self):
        """Bind and serve in a background thread; return self."""
        if self._httpd is not None:
            return self
        self._httpd = _SandboxHTTPServer((self.host, self.port), _Handler, self)
        self.port = self._httpd.server_address[1]
        self._thread = threading.Thread(
            target=self._httpd.serve_forever,
            kwargs={"poll_interval": SHUTDOWN_POLL_INTERVAL},
            name="crm-sandbox-http",
            daemon=True,
        )
        self._thread.start()
        if self._auto_deliver:
            self.webhooks.start()
        _logger.info("CRM sandbox listening on %s", self.base_url)
        return self

    def stop(self):
        """Stop serving and background delivery; the store keeps its data."""
        self.webhooks.stop()
        if self._httpd is None:
            return
        self._httpd.shutdown()
        self._httpd.server_close()
        self._thread.join(timeout=10)
        self._httpd = None
        self._thread = None
        _logger.info("CRM sandbox on port %s stopped", self.port)

    def __enter__(self):
        return self.start()

    def __exit__(self, *exc_info):
        self.stop()

    @property
    def base_url(self):
        return f"http://{self.host}:{self.port}"

    # -- configuration -------------------------------------------------

    def add_token(self, token, scopes=None, app_id=None):
        """Accept another access token; ``scopes=None`` grants every scope."""
        if not token:
            raise ValueError("An access token must not be empty.")
        granted = set(schema.all_scopes() if scopes is None else scopes)
        self.tokens[token] = AccessToken(token, granted, app_id or self.app_id)
        return self.tokens[token]

    def set_scopes(self, scopes, token=None):
        """Replace the scopes of a token (the main access token by default)."""
        self.tokens[token or self.access_token].scopes = set(scopes)

    def reset(self):
        """Empty the store and the webhook queue, switch faults off, reset limits."""
        self.store.reset()
        self.faults.clear()
        self.webhooks.clear()
        self.rate_limiter.reset()
        self.search_rate_limiter.reset()
        self.request_counts.clear()

    def load_csv(self, path, mapping, emit_events=False):
        """Load companies and contacts from a CSV export; return the load summary."""
        return load_csv(self.store, path, mapping, emit_events=emit_events)

    def load_demo(self, emit_events=False):
        """Load the demo companies and contacts shipped in crm_sandbox/data."""
        return [
            self.load_csv(path, mapping, emit_events) for path, mapping in DEMO_FILES
        ]

    # -- request pipeline ----------------------------------------------

    def dispatch(self, request):
        """Return the Response to one request; every error becomes an error response."""
        try:
            if request.path.startswith("/_sandbox"):
                return self.control.handle(request)
            if request.path.startswith("/crm/"):
                return self._dispatch_crm(request)
            raise ApiError(
                404,
                f"No endpoint at {request.method} {request.path}.",
                "OBJECT_NOT_FOUND",
            )
        except ApiError as error:
            return Response.from_error(error)
        except Exception:  # a sandbox bug must still produce a response
            _logger.exception("unexpected error on %s %s", request.method, request.path)
            return Response.from_error(
                ApiError(500, "Internal error in the CRM sandbox.", "INTERNAL_ERROR")
            )

    def _dispatch_crm(self, request):
        request.token = self._authenticate(request)
        if self.faults.latency:
            time.sleep(self.faults.latency)

        action = self.faults.next_action(request.path)
        if action is not None and action.kind in (
            fault_kinds.STATUS,
            fault_kinds.RANDOM_ERROR,
        ):
            return self._forced_response(request, action.status)

        decision = self.rate_limiter.acquire(request.token.token)
        if not decision.allowed:
            return Response.from_error(self.rate_limiter.error(decision))
        if request.path.endswith("/search"):
            search_decision = self.search_rate_limiter.acquire(request.token.token)
            if not search_decision.allowed:
                error = rate_limit_error(SECONDLY, search_decision)
                error.headers.update(decision.headers())
                return Response.from_error(error)

        response = self._run_crm_handler(request, action)
        response.headers.update(decision.headers())
        return response

    def _run_crm_handler(self, request, action):
        if (
            action is not None
            and action.kind == fault_kinds.TIMEOUT
            and not action.apply_request
        ):
            time.sleep(action.seconds)
            return Response(504, raw=_HTML_ERROR_PAGE, content_type="text/html")

        try:
            response = self.api.handle(request)
        except ApiError as error:
            response = Response.from_error(error)

        if action is not None and action.kind == fault_kinds.TIMEOUT:
            time.sleep(action.seconds)
        if action is not None and action.kind == fault_kinds.MALFORMED:
            response.malformed = action.malformed_kind
        return response

    def _authenticate(self, request):
        header = request.headers.get("authorization", "")
        scheme, _, token = header.partition(" ")
        if scheme.lower() != "bearer" or not token.strip():
            raise self._unauthorised(
                "Authentication credentials not found. This API supports OAuth 2.0 "
                "authentication: send the private app's access token as "
                "'Authorization: Bearer <token>'."
            )
        access_token = self.tokens.get(token.strip())
        if access_token is None:
            raise self._unauthorised(
                "The access token provided is invalid or has been revoked."
            )
        return access_token

    def _unauthorised(self, message):
        decision = self.rate_limiter.peek(None)
        return ApiError(
            401, message, "INVALID_AUTHENTICATION", headers=decision.headers()
        )

    def _forced_response(self, request, status):
        decision = self.rate_limiter.peek(request.token.token)
        if status == 429:
            forced = RateDecision(False, decision.limit, 0, decision.window, 1)
            return Response.from_error(self.rate_limiter.error(forced))
        if status in (502, 503, 504):
            # Gateways in front of an API respond with HTML, not the API's JSON.
            response = Response(status, raw=_HTML_ERROR_PAGE, content_type="text/html")
        else:
            response = Response.from_error(
                ApiError(status, "internal error", "INTERNAL_ERROR")
            )
        response.headers.update(decision.headers())
        return response


class _SandboxHTTPServer(ThreadingHTTPServer):
    daemon_threads = True
    block_on_close = False

    def __init__(self, address, handler, sandbox):
        self.sandbox = sandbox
        super().__init__(address, handler)


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server_version = "crm-sandbox"

    def setup(self):
        super().setup()
        # Headers and body go out in separate writes; without this, Nagle's
        # algorithm and delayed ACKs add about 40 ms to keep-alive requests.
        self.connection.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)

    def do_GET(self):
        self._handle()

    def do_POST(self):
        self._handle()

    def do_PATCH(self):
        self._handle()

    def do_PUT(self):
        self._handle()

    def do_DELETE(self):
        self._handle()

    def log_message(self, format, *args):  # the base class names it "format"
        _logger.debug("%s %s", self.address_string(), format % args)

    def _handle(self):
        sandbox = self.server.sandbox
        try:
            body = self._read_body()
        except ValueError as error:
            self._write(
                Response.from_error(ApiError(400, str(error), "VALIDATION_ERROR"))
            )
            return
        request = Request.build(
            self.command, self.path, dict(self.headers), body, sandbox.base_url
        )
        response = sandbox.dispatch(request)
        sandbox.request_counts[response.status] += 1
        try:
            self._write(response)
        except (BrokenPipeError, ConnectionResetError):
            # The client gave up first, as it does on a forced timeout.
            self.close_connection = True

    def _read_body(self):
        if self.headers.get("Transfer-Encoding", "").lower() == "chunked":
            return self._read_chunked()
        length = self.headers.get("Content-Length")
        if not length:
            return b""
        if not length.isdigit():
            raise ValueError(f"Invalid Content-Length {length!r}.")
        return self.rfile.read(int(length))

    def _read_chunked(self):
        chunks = []
        while True:
            size_line = self.rfile.readline().split(b";")[0].strip()
            size = int(size_line or b"0", 16)
            if size == 0:
                self.rfile.readline()
                return b"".join(chunks)
            chunks.append(self.rfile.read(size))
            self.rfile.readline()

    def _write(self, response):
        data = response.encoded()
        status = response.status
        content_type = response.content_type
        if response.malformed == "non_json":
            status, data, content_type = 200, _HTML_ERROR_PAGE, "text/html"
        elif response.malformed == "truncated":
            data = data[: len(data) // 2]

        self.send_response(status)
        if data or status != 204:
            self.send_header("Content-Type", content_type)
        self.send_header("Content-Length", str(len(data)))
        for name, value in response.headers.items():
            self.send_header(name, value)
        if response.malformed == "incomplete":
            self.send_header("Connection", "close")
            self.end_headers()
            self.wfile.write(data[: len(data) // 2])
            self.wfile.flush()
            self.close_connection = True
            self.connection.shutdown(socket.SHUT_WR)
            return
        self.end_headers()
        if data and self.command != "HEAD":
            self.wfile.write(data)
