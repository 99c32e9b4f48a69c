"""Client-side request throttle over a rolling time window.

CRMs such as HubSpot count requests per access token in a rolling window (for
example 100 requests per 10 seconds) and respond with 429 once it is full. The
throttle makes the adapter wait for a free slot before it sends, so that normal
load never triggers a 429.

Adapters in one process that use the same base URL, token and limits share one
throttle (see :func:`shared_throttle`), because Odoo builds a new adapter for
every job. Separate processes (several Odoo workers) do not share it, so the
CRM's own 429 remains possible under heavy load and the job queue handles it.
"""

import contextlib
import hashlib
import threading
import time


class RollingWindowThrottle:
    """Allows at most ``limit`` requests in any ``window`` seconds; thread-safe.

    A request occupies its slot from the moment it is sent until ``window``
    seconds after its response arrived. The CRM counts a request when it
    arrives, which can be well after the send (a new connection, for example).
    A slot counted from the send could therefore free too early and let the
    next request reach the CRM while the CRM's window is still full.
    """

    def __init__(self, limit, window, clock=time.monotonic, sleep=time.sleep):
        if int(limit) < 1:
            raise ValueError(f"rate limit must be at least 1 request, got {limit}")
        if float(window) <= 0:
            raise ValueError(f"rate window must be positive seconds, got {window}")
        self.limit = int(limit)
        self.window = float(window)
        self._clock = clock
        self._sleep = sleep
        self._lock = threading.Lock()
        # One entry per request in the window: [end time], None while in flight.
        self._slots = []

    @contextlib.contextmanager
    def slot(self):
        """Wait for a free slot, hold it during the ``with`` block, then release it.

        The released slot stays counted for ``window`` seconds after the block.
        """
        entry = self._reserve()
        try:
            yield
        finally:
            with self._lock:
                entry[0] = self._clock()

    def _reserve(self):
        while True:
            entry, delay = self._try_reserve()
            if entry is not None:
                return entry
            self._sleep(delay)

    def _try_reserve(self):
        """Return (new slot, 0), or (None, seconds until the oldest slot frees)."""
        with self._lock:
            now = self._clock()
            self._slots = [
                entry
                for entry in self._slots
                if entry[0] is None or entry[0] > now - self.window
            ]
            if len(self._slots) < self.limit:
                entry = [None]
                self._slots.append(entry)
                return entry, 0.0

            finished = [entry[0] for entry in self._slots if entry[0] is not None]
            if not finished:
                # Every slot is in flight: check again once one may have ended.
                return None, min(self.window, 0.05)
            return None, min(finished) + self.window - now


_shared_throttles = {}
_shared_lock = threading.Lock()


def shared_throttle(base_url, access_token, limit, window, purpose="all"):
    """Return the process-wide throttle for one CRM account, limit and purpose.

    ``purpose`` keeps apart limits that the CRM counts separately, such as
    HubSpot's extra limit on search requests. The registry key contains a SHA-256
    digest of the token, never the token.
    """
    token_digest = hashlib.sha256(access_token.encode("utf-8")).hexdigest()
    key = (purpose, base_url, token_digest, int(limit), float(window))
    with _shared_lock:
        throttle = _shared_throttles.get(key)
        if throttle is None:
            throttle = RollingWindowThrottle(limit, window)
            _shared_throttles[key] = throttle
        return throttle
