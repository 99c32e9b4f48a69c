"""Webhook events: queued from store changes, delivered in signed batches.

Each delivery is a POST of a JSON array of at most ``batch_size`` events (HubSpot
sends under 100 per request) with the v3 signature headers:

- ``X-HubSpot-Signature-v3``: base64 HMAC-SHA256, keyed with the app's client
  secret, over ``method + URI + body + timestamp``;
- ``X-HubSpot-Request-Timestamp``: the timestamp in epoch milliseconds;
- ``X-HubSpot-Signature-Version: v3``.

A batch that gets a non-2xx response, or no response within ``timeout``
seconds, is sent again with ``attemptNumber`` raised by one, up to
``max_attempts`` attempts, waiting ``retry_delay`` seconds and doubling the wait
each time up to ``max_retry_delay``. HubSpot retries up to 10 times over many
hours; the sandbox keeps the attempt count and shortens the waits.

Delivery is explicit by default (``flush()``), so tests are deterministic;
``auto_deliver`` starts a background thread that flushes shortly after each
change.
"""

import base64
import fnmatch
import hashlib
import hmac
import http.client
import itertools
import json
import logging
import threading
import time
from dataclasses import dataclass, field
from urllib.parse import urlsplit

_logger = logging.getLogger(__name__)

ALLOWED_HOSTS = ("127.0.0.1", "localhost", "::1")
DEFAULT_PORTAL_ID = 99_000_001
DEFAULT_APP_ID = 4_400_001
# Every subscription type the sandbox can send, in a fixed order for their ids.
SUBSCRIPTION_TYPES = tuple(
    f"{singular}.{kind}"
    for singular in ("company", "contact", "deal", "line_item", "product")
    for kind in ("creation", "deletion", "propertyChange", "merge", "associationChange")
)
# Subscriptions active unless configured otherwise: HubSpot's classic CRM
# object subscriptions for the five object types, without associationChange.
DEFAULT_SUBSCRIPTIONS = tuple(
    name for name in SUBSCRIPTION_TYPES if not name.endswith(".associationChange")
)
AUTO_DELIVER_INTERVAL = 0.2  # seconds between background flushes


def check_webhook_url(url):
    """Raise ValueError unless ``url`` is an http(s) URL on this machine."""
    parts = urlsplit(url or "")
    if parts.scheme not in ("http", "https") or parts.hostname not in ALLOWED_HOSTS:
        raise ValueError(
            f"Webhook URL must be http(s) on 127.0.0.1 or localhost, got {url!r}."
        )
    return url


def sign_v3(client_secret, method, uri, body, timestamp):
    """Return HubSpot's v3 signature of a request (base64 HMAC-SHA256)."""
    source = f"{method}{uri}{body}{timestamp}".encode()
    digest = hmac.new(client_secret.encode(), source, hashlib.sha256).digest()
    return base64.b64encode(digest).decode()


@dataclass
class DeliveryResult:
    """Outcome of one batch delivery: its event ids and every attempt."""

    event_ids: list
    attempts: list = field(default_factory=list)
    delivered: bool = False

    def as_dict(self):
        return {
            "eventIds": self.event_ids,
            "attempts": self.attempts,
            "delivered": self.delivered,
        }


class WebhookDispatcher:
    """Queues store events as HubSpot webhook events and delivers them."""

    def __init__(
        self,
        url=None,
        client_secret="",
        app_id=DEFAULT_APP_ID,
        portal_id=DEFAULT_PORTAL_ID,
        auto_deliver=False,
        max_attempts=10,
        retry_delay=0.5,
        max_retry_delay=5.0,
        batch_size=100,
        timeout=5.0,
        subscriptions=DEFAULT_SUBSCRIPTIONS,
    ):
        self._lock = threading.Lock()
        self._flush_lock = threading.Lock()
        self._wake = threading.Event()
        self._stop = threading.Event()
        self._thread = None
        self._event_ids = itertools.count(1_000_001)
        self._queue = []
        self.dead_letters = []
        self.delivered_count = 0
        # Source of X-HubSpot-Request-Timestamp, in epoch seconds. Tests replace
        # it to send stale or future timestamps.
        self.clock = time.time
        self.url = None
        self.client_secret = client_secret
        self.app_id = app_id
        self.portal_id = portal_id
        self.configure(
            url=url,
            max_attempts=max_attempts,
            retry_delay=retry_delay,
            max_retry_delay=max_retry_delay,
            batch_size=batch_size,
            timeout=timeout,
            subscriptions=subscriptions,
        )
        self.auto_deliver = False
        if auto_deliver:
            self.start()

    # -- configuration -------------------------------------------------

    def configure(self, **settings):
        """Change delivery settings; ``url=None`` stops queueing new events.

        Keys: url, client_secret, app_id, portal_id, max_attempts, retry_delay,
        max_retry_delay, batch_size, timeout, subscriptions. Raises ValueError
        for a URL off this machine or an out-of-range number.
        """
        if "url" in settings and settings["url"] is not None:
            check_webhook_url(settings["url"])
        if not 1 <= int(settings.get("batch_size", 100)) <= 100:
            raise ValueError("batch_size must be between 1 and 100.")
        if int(settings.get("max_attempts", 1)) < 1:
            raise ValueError("max_attempts must be at least 1.")
        with self._lock:
            for name, value in settings.items():
                if name == "subscriptions":
                    value = tuple(value)
                elif name in ("retry_delay", "max_retry_delay", "timeout"):
                    value = float(value)
                elif name in ("max_attempts", "batch_size"):
                    value = int(value)
                elif name not in ("url", "client_secret", "app_id", "portal_id"):
                    raise ValueError(f"Unknown webhook setting {name!r}.")
                setattr(self, name, value)

    def settings(self):
        """Return the settings without the client secret."""
        with self._lock:
            return {
                "url": self.url,
                "appId": self.app_id,
                "portalId": self.portal_id,
                "autoDeliver": self.auto_deliver,
                "maxAttempts": self.max_attempts,
                "retryDelay": self.retry_delay,
                "maxRetryDelay": self.max_retry_delay,
                "batchSize": self.batch_size,
                "timeout": self.timeout,
                "subscriptions": list(self.subscriptions),
                "queued": len(self._queue),
                "delivered": self.delivered_count,
                "deadLetters": len(self.dead_letters),
            }

    # -- queueing ------------------------------------------------------

    @staticmethod
    def subscription_id(subscription_type):
        """Return a stable subscription id per subscription type."""
        if subscription_type in SUBSCRIPTION_TYPES:
            return 2_100_001 + SUBSCRIPTION_TYPES.index(subscription_type)
        return 2_100_001 + len(SUBSCRIPTION_TYPES)

    def handle_event(self, change):
        """Queue a store change as a webhook event if a subscription matches.

        Nothing is queued while no URL is configured, as HubSpot sends nothing
        without an active subscription.
        """
        subscription_type = change["subscriptionType"]
        with self._lock:
            if self.url is None:
                return
            if not any(
                fnmatch.fnmatchcase(subscription_type, p) for p in self.subscriptions
            ):
                return
            event = {
                "eventId": next(self._event_ids),
                "subscriptionId": self.subscription_id(subscription_type),
                "portalId": self.portal_id,
                "appId": self.app_id,
                "attemptNumber": 0,
            }
            event.update(change)
            self._queue.append(event)
        self._wake.set()

    def queued(self):
        """Return copies of the events waiting for delivery."""
        with self._lock:
            return [dict(event) for event in self._queue]

    def clear(self):
        """Drop queued events and the dead-letter list."""
        with self._lock:
            self._queue.clear()
            self.dead_letters.clear()
            self.delivered_count = 0

    # -- delivery ------------------------------------------------------

    def flush(self):
        """Deliver every queued event now and return one DeliveryResult per batch.

        Events whose batch failed ``max_attempts`` times go to ``dead_letters``.
        """
        with self._flush_lock:
            results = []
            while True:
                with self._lock:
                    batch = self._queue[: self.batch_size]
                    del self._queue[: self.batch_size]
                    url = self.url
                if not batch:
                    return results
                if url is None:
                    with self._lock:
                        self._queue[:0] = batch
                    return results
                results.append(self._deliver(url, batch))

    def _deliver(self, url, batch):
        result = DeliveryResult([event["eventId"] for event in batch])
        for attempt in range(self.max_attempts):
            for event in batch:
                event["attemptNumber"] = attempt
            status, error = self._post(url, batch)
            result.attempts.append(
                {"attemptNumber": attempt, "status": status, "error": error}
            )
            if status is not None and 200 <= status < 300:
                result.delivered = True
                with self._lock:
                    self.delivered_count += len(batch)
                _logger.info(
                    "delivered %d webhook events, attempt %d", len(batch), attempt
                )
                return result

            _logger.warning(
                "webhook delivery of %d events failed on attempt %d: %s",
                len(batch),
                attempt,
                error or f"HTTP {status}",
            )
            if attempt + 1 < self.max_attempts:
                time.sleep(min(self.retry_delay * 2**attempt, self.max_retry_delay))

        with self._lock:
            self.dead_letters.extend(batch)
        _logger.error(
            "gave up on %d webhook events after %d attempts",
            len(batch),
            self.max_attempts,
        )
        return result

    def _post(self, url, batch):
        """Send one batch; return (status, None) or (None, error text)."""
        body = json.dumps(batch, separators=(",", ":"), ensure_ascii=False)
        timestamp = str(int(self.clock() * 1000))
        headers = {
            "Content-Type": "application/json",
            "X-HubSpot-Signature-v3": sign_v3(
                self.client_secret, "POST", url, body, timestamp
            ),
            "X-HubSpot-Request-Timestamp": timestamp,
            "X-HubSpot-Signature-Version": "v3",
            "User-Agent": "crm-sandbox-webhooks",
        }
        parts = urlsplit(url)
        # http.client keeps the header names' case; urllib would rewrite it.
        connection_class = (
            http.client.HTTPSConnection
            if parts.scheme == "https"
            else http.client.HTTPConnection
        )
        connection = connection_class(parts.hostname, parts.port, timeout=self.timeout)
        target = parts.path or "/"
        if parts.query:
            target += "?" + parts.query
        try:
            connection.request("POST", target, body.encode(), headers)
            response = connection.getresponse()
            response.read()
            return response.status, None
        except (OSError, http.client.HTTPException) as error:
            return None, f"{type(error).__name__}: {error}"
        finally:
            connection.close()

    # -- background delivery -------------------------------------------

    def start(self):
        """Deliver in a background thread shortly after events are queued."""
        if self._thread is not None:
            return
        self._stop.clear()
        self.auto_deliver = True
        self._thread = threading.Thread(
            target=self._run, name="crm-sandbox-webhooks", daemon=True
        )
        self._thread.start()

    def stop(self):
        """Stop background delivery; queued events stay for ``flush()``."""
        thread = self._thread
        if thread is None:
            return
        self._stop.set()
        self._wake.set()
        thread.join(timeout=10)
        self._thread = None
        self.auto_deliver = False

    def _run(self):
        while not self._stop.is_set():
            self._wake.wait(AUTO_DELIVER_INTERVAL)
            self._wake.clear()
            if self._stop.is_set():
                return
            try:
                self.flush()
            except Exception:  # keep the thread alive whatever a delivery raised
                _logger.exception("background webhook delivery failed")
