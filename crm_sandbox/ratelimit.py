"""Rolling-window request limits per access token, like HubSpot's per-app limits.

HubSpot's private apps get 100 requests per rolling 10 seconds by default
(policy ``TEN_SECONDLY_ROLLING``); the 429 response names the policy.
"""

import math
import threading
import time
from collections import deque
from dataclasses import dataclass

from .errors import ApiError

TEN_SECONDLY_ROLLING = "TEN_SECONDLY_ROLLING"
SECONDLY = "SECONDLY"


@dataclass(frozen=True)
class RateDecision:
    allowed: bool
    limit: int
    remaining: int
    window: float
    retry_after: int = 0

    def headers(self):
        """Return HubSpot's rate-limit headers for this decision."""
        return {
            "X-HubSpot-RateLimit-Max": str(self.limit),
            "X-HubSpot-RateLimit-Remaining": str(self.remaining),
            "X-HubSpot-RateLimit-Interval-Milliseconds": str(int(self.window * 1000)),
        }


class RateLimiter:
    """Counts requests per key in a rolling window; thread-safe.

    ``limit=None`` disables the limit (every request is allowed).
    """

    def __init__(
        self, limit=100, window=10.0, policy=TEN_SECONDLY_ROLLING, clock=time.monotonic
    ):
        self.limit = limit
        self.window = float(window)
        self.policy = policy
        self._clock = clock
        self._lock = threading.Lock()
        self._hits = {}

    def configure(self, limit, window=None):
        with self._lock:
            self.limit = limit
            if window is not None:
                self.window = float(window)
            self._hits.clear()

    def reset(self):
        with self._lock:
            self._hits.clear()

    def acquire(self, key):
        """Count one request for ``key`` unless it is over the limit."""
        with self._lock:
            if not self.limit:
                return RateDecision(True, 0, 0, self.window)

            now = self._clock()
            hits = self._hits.setdefault(key, deque())
            while hits and hits[0] <= now - self.window:
                hits.popleft()

            if len(hits) >= self.limit:
                wait = hits[0] + self.window - now
                return RateDecision(
                    False, self.limit, 0, self.window, max(1, math.ceil(wait))
                )
            hits.append(now)
            return RateDecision(True, self.limit, self.limit - len(hits), self.window)

    def peek(self, key):
        """Return the current decision for ``key`` without counting a request."""
        with self._lock:
            if not self.limit:
                return RateDecision(True, 0, 0, self.window)
            now = self._clock()
            hits = [hit for hit in self._hits.get(key, ()) if hit > now - self.window]
            return RateDecision(
                True, self.limit, max(0, self.limit - len(hits)), self.window
            )

    def error(self, decision):
        """Return the 429 ApiError HubSpot sends when this limit is hit."""
        return rate_limit_error(self.policy, decision)


def rate_limit_error(policy, decision):
    headers = decision.headers()
    headers["Retry-After"] = str(decision.retry_after or 1)
    return ApiError(
        429,
        f"You have reached your {policy.lower()} limit.",
        "RATE_LIMITS",
        headers=headers,
        errorType="RATE_LIMIT",
        policyName=policy,
    )
