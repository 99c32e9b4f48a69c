"""The control API under ``/_sandbox/``: what a test or a demo does to the sandbox.

Every call needs ``Authorization: Bearer <admin token>``; the admin token is the
access token unless the server was given another. Request and response bodies are JSON.
The control API is never rate limited and never affected by fault switches.
"""

import logging
from datetime import timedelta

from .errors import ApiError, validation_error
from .protocol import Response, Router
from .store import DEFAULT_USER_ID, ChangeSource
from .timeutil import parse_datetime, to_iso, utc_now

_logger = logging.getLogger(__name__)

PREFIX = "/_sandbox"


def _crm_user(body):
    """Return the change source of the HubSpot user ``userId`` (or a default user)."""
    return ChangeSource("CRM_UI", f"userId:{body.get('userId') or DEFAULT_USER_ID}")


class ControlApi:
    """Handlers of the control endpoints, bound to one SandboxServer."""

    def __init__(self, sandbox):
        self.sandbox = sandbox
        self.router = Router()
        add = self.router.add
        add("GET", PREFIX + "/stats", self.stats)
        add("POST", PREFIX + "/reset", self.reset)
        add("POST", PREFIX + "/load", self.load)
        add("POST", PREFIX + "/load-demo", self.load_demo)
        add("GET", PREFIX + "/faults", self.get_faults)
        add("POST", PREFIX + "/faults", self.set_faults)
        add("GET", PREFIX + "/webhooks", self.get_webhooks)
        add("POST", PREFIX + "/webhooks", self.set_webhooks)
        add("GET", PREFIX + "/webhooks/queue", self.webhook_queue)
        add("POST", PREFIX + "/webhooks/flush", self.flush_webhooks)
        add("POST", PREFIX + "/crm-user/{object_type}", self.user_create)
        add("PATCH", PREFIX + "/crm-user/{object_type}/{object_id}", self.user_update)
        add("DELETE", PREFIX + "/crm-user/{object_type}/{object_id}", self.user_archive)
        add("POST", PREFIX + "/merge", self.merge)
        add("POST", PREFIX + "/tokens", self.set_token)
        add("POST", PREFIX + "/rate-limit", self.set_rate_limit)
        add("POST", PREFIX + "/clock", self.set_clock)

    def handle(self, request):
        self._authenticate(request)
        handler, parameters = self.router.resolve(request.method, request.path)
        try:
            return handler(request, **parameters)
        except (ValueError, TypeError, OSError) as error:
            raise validation_error(f"{type(error).__name__}: {error}") from None

    def _authenticate(self, request):
        header = request.headers.get("authorization", "")
        scheme, _, token = header.partition(" ")
        if scheme.lower() != "bearer" or token.strip() != self.sandbox.admin_token:
            raise ApiError(
                401,
                "The control API needs 'Authorization: Bearer <admin token>'.",
                "INVALID_AUTHENTICATION",
            )

    # -- data ----------------------------------------------------------

    def stats(self, request):
        body = self.sandbox.store.stats()
        body["webhooks"] = self.sandbox.webhooks.settings()
        body["requests"] = {
            str(k): v for k, v in sorted(self.sandbox.request_counts.items())
        }
        return Response(200, body)

    def reset(self, request):
        self.sandbox.reset()
        _logger.info("sandbox reset through the control API")
        return Response(200, {"status": "reset"})

    def load(self, request):
        body = request.json_object()
        if not body.get("path") or not body.get("mapping"):
            raise validation_error('A load needs "path" and "mapping".')
        summary = self.sandbox.load_csv(
            body["path"], body["mapping"], emit_events=bool(body.get("emitEvents"))
        )
        return Response(200, summary)

    def load_demo(self, request):
        body = request.json_object()
        summaries = self.sandbox.load_demo(emit_events=bool(body.get("emitEvents")))
        return Response(200, {"loads": summaries})

    # -- faults --------------------------------------------------------

    def get_faults(self, request):
        return Response(200, self.sandbox.faults.as_dict())

    def set_faults(self, request):
        """Apply fault settings; keys not given keep their value.

        Keys: clear, errorRate with seed, latency (seconds), failNext
        {count, status, pathPrefix}, timeoutNext {count, seconds, applyRequest,
        pathPrefix}, malformedNext {count, kind, pathPrefix}.
        """
        body = request.json_object()
        faults = self.sandbox.faults
        if body.get("clear"):
            faults.clear()
        if "errorRate" in body:
            faults.set_error_rate(body["errorRate"], body.get("seed"))
        if "latency" in body:
            faults.set_latency(body["latency"])
        if "failNext" in body:
            spec = body["failNext"]
            faults.fail_next(
                spec.get("count", 1), spec.get("status", 500), spec.get("pathPrefix")
            )
        if "timeoutNext" in body:
            spec = body["timeoutNext"]
            faults.timeout_next(
                spec.get("count", 1),
                spec.get("seconds", 30.0),
                spec.get("applyRequest", True),
                spec.get("pathPrefix"),
            )
        if "malformedNext" in body:
            spec = body["malformedNext"]
            faults.malformed_next(
                spec.get("count", 1),
                spec.get("kind", "truncated"),
                spec.get("pathPrefix"),
            )
        return Response(200, faults.as_dict())

    # -- webhooks ------------------------------------------------------

    _WEBHOOK_KEYS = {
        "url": "url",
        "clientSecret": "client_secret",
        "appId": "app_id",
        "portalId": "portal_id",
        "maxAttempts": "max_attempts",
        "retryDelay": "retry_delay",
        "maxRetryDelay": "max_retry_delay",
        "batchSize": "batch_size",
        "timeout": "timeout",
        "subscriptions": "subscriptions",
    }

    def get_webhooks(self, request):
        return Response(200, self.sandbox.webhooks.settings())

    def set_webhooks(self, request):
        """Configure delivery: url, clientSecret, autoDeliver and retry settings."""
        body = request.json_object()
        unknown = set(body) - set(self._WEBHOOK_KEYS) - {"autoDeliver"}
        if unknown:
            raise validation_error(
                f"Unknown webhook settings: {', '.join(sorted(unknown))}."
            )
        settings = {
            self._WEBHOOK_KEYS[key]: value
            for key, value in body.items()
            if key in self._WEBHOOK_KEYS
        }
        webhooks = self.sandbox.webhooks
        webhooks.configure(**settings)
        if body.get("autoDeliver") is True:
            webhooks.start()
        elif body.get("autoDeliver") is False:
            webhooks.stop()
        return Response(200, webhooks.settings())

    def webhook_queue(self, request):
        return Response(200, {"events": self.sandbox.webhooks.queued()})

    def flush_webhooks(self, request):
        results = self.sandbox.webhooks.flush()
        return Response(200, {"batches": [result.as_dict() for result in results]})

    # -- changes made "in HubSpot" by a CRM user -----------------------

    def user_create(self, request, object_type):
        body = request.json_object()
        snapshot = self.sandbox.store.create(
            object_type,
            body.get("properties") or {},
            body.get("associations") or [],
            _crm_user(body),
        )
        return Response(201, snapshot)

    def user_update(self, request, object_type, object_id):
        body = request.json_object()
        snapshot = self.sandbox.store.update(
            object_type, object_id, body.get("properties") or {}, _crm_user(body)
        )
        return Response(200, snapshot)

    def user_archive(self, request, object_type, object_id):
        body = request.json_object()
        if not self.sandbox.store.archive(object_type, object_id, _crm_user(body)):
            raise ApiError(
                404, f"No live {object_type} {object_id}.", "OBJECT_NOT_FOUND"
            )
        return Response(204)

    def merge(self, request):
        body = request.json_object()
        for key in ("objectType", "primaryObjectId", "objectIdToMerge"):
            if not body.get(key):
                raise validation_error(f'A merge needs "{key}".')
        snapshot = self.sandbox.store.merge(
            body["objectType"],
            body["primaryObjectId"],
            body["objectIdToMerge"],
            _crm_user(body),
        )
        return Response(200, snapshot)

    # -- tokens, limits, clock -----------------------------------------

    def set_token(self, request):
        """Add or replace a token: {token, scopes (null for all), appId}."""
        body = request.json_object()
        token = self.sandbox.add_token(
            body.get("token"), body.get("scopes"), body.get("appId")
        )
        return Response(
            200,
            {"token": "<set>", "scopes": sorted(token.scopes), "appId": token.app_id},
        )

    def set_rate_limit(self, request):
        """Set {limit, windowSeconds} per token, {searchLimit} per second.

        A null limit disables that limit.
        """
        body = request.json_object()
        if "limit" in body or "windowSeconds" in body:
            limiter = self.sandbox.rate_limiter
            limiter.configure(
                body.get("limit", limiter.limit), body.get("windowSeconds")
            )
        if "searchLimit" in body:
            self.sandbox.search_rate_limiter.configure(body["searchLimit"])
        return Response(
            200,
            {
                "limit": self.sandbox.rate_limiter.limit,
                "windowSeconds": self.sandbox.rate_limiter.window,
                "searchLimit": self.sandbox.search_rate_limiter.limit,
            },
        )

    def set_clock(self, request):
        """Freeze the store clock at {frozenAt} or shift it by {offsetSeconds}.

        An empty body restores the real clock.
        """
        body = request.json_object()
        store = self.sandbox.store
        if body.get("frozenAt"):
            frozen = parse_datetime(body["frozenAt"])
            store.clock = lambda: frozen
        elif body.get("offsetSeconds"):
            offset = timedelta(seconds=float(body["offsetSeconds"]))
            store.clock = lambda: utc_now() + offset
        else:
            store.clock = utc_now
        return Response(200, {"now": to_iso(store.now())})
