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

import collections
import hashlib
import threading
import time


class RollingWindowThrottle:
    """Allows at most ``limit`` acquisitions in any ``window`` seconds; thread-safe."""

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
        self._sent = collections.deque()

    def acquire(self):
        """Wait until a request may be sent, count it and return the wait in seconds."""
        waited = 0.0
        while True:
            delay = self._try_acquire()
            if delay <= 0:
                return waited
            self._sleep(delay)
            waited += delay

    def _try_acquire(self):
        """Count one request and return 0, or return the seconds until a slot frees."""
        with self._lock:
            now = self._clock()
            while self._sent and self._sent[0] <= now - self.window:
                self._sent.popleft()
            if len(self._sent) < self.limit:
                self._sent.append(now)
                return 0.0
            return self._sent[0] + self.window - now


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
