"""Fault switches for tests: random errors, latency and forced failures.

Faults apply to the CRM API (``/crm/...``) only, never to the control API.
Forced faults queue up in the order they were set; each request consumes the
first queued fault whose path prefix it matches.
"""

import random
import threading
from dataclasses import dataclass

STATUS = "status"
TIMEOUT = "timeout"
MALFORMED = "malformed"
RANDOM_ERROR = "random_error"

FORCEABLE_STATUSES = (429, 500, 502, 503, 504)
# "truncated": the JSON cut in half, with a matching Content-Length.
# "non_json": an HTML error page with status 200.
# "incomplete": Content-Length promises more bytes than are sent, then the
# connection closes.
MALFORMED_KINDS = ("truncated", "non_json", "incomplete")


@dataclass
class FaultAction:
    """One fault to apply to one request."""

    kind: str
    status: int = 500
    seconds: float = 0.0
    malformed_kind: str = "truncated"
    # Whether the request is still carried out (a write then happens although
    # the client sees a failure), as when a real server fails after committing.
    apply_request: bool = False


@dataclass
class _Pending:
    action: FaultAction
    remaining: int
    path_prefix: str | None


class Faults:
    """The fault switches of one sandbox; thread-safe."""

    def __init__(self):
        self._lock = threading.Lock()
        self.clear()

    def clear(self):
        """Switch every fault off."""
        with self._lock:
            self.error_rate = 0.0
            self.latency = 0.0
            self.seed = None
            self._random = random.Random()
            self._pending = []

    def set_error_rate(self, rate, seed=None):
        """Fail a random ``rate`` fraction (0 to 1) of calls with a 500."""
        if not 0.0 <= float(rate) <= 1.0:
            raise ValueError(f"error rate must be between 0 and 1, got {rate}")
        with self._lock:
            self.error_rate = float(rate)
            self.seed = seed
            self._random = random.Random(seed)

    def set_latency(self, seconds):
        """Delay every call by ``seconds`` before it is handled."""
        if float(seconds) < 0:
            raise ValueError(f"latency must not be negative, got {seconds}")
        with self._lock:
            self.latency = float(seconds)

    def fail_next(self, count=1, status=500, path_prefix=None):
        """Fail the next ``count`` calls with ``status`` (429, 500, 502, 503, 504)."""
        if int(status) not in FORCEABLE_STATUSES:
            raise ValueError(
                f"status must be one of {FORCEABLE_STATUSES}, got {status}"
            )
        self._queue(FaultAction(STATUS, status=int(status)), count, path_prefix)

    def timeout_next(self, count=1, seconds=30.0, apply_request=True, path_prefix=None):
        """Make the next ``count`` calls wait ``seconds`` before responding.

        Choose ``seconds`` above the client's timeout. With ``apply_request``
        the call is carried out before the wait, so a write takes effect even
        though the client times out.
        """
        action = FaultAction(
            TIMEOUT, seconds=float(seconds), apply_request=bool(apply_request)
        )
        self._queue(action, count, path_prefix)

    def malformed_next(self, count=1, kind="truncated", path_prefix=None):
        """Break the body of the next ``count`` responses; the call is carried out."""
        if kind not in MALFORMED_KINDS:
            raise ValueError(f"kind must be one of {MALFORMED_KINDS}, got {kind!r}")
        action = FaultAction(MALFORMED, malformed_kind=kind, apply_request=True)
        self._queue(action, count, path_prefix)

    def _queue(self, action, count, path_prefix):
        if int(count) < 1:
            raise ValueError(f"count must be at least 1, got {count}")
        with self._lock:
            self._pending.append(_Pending(action, int(count), path_prefix))

    def next_action(self, path):
        """Return the fault for a request to ``path`` and consume it, or None."""
        with self._lock:
            for pending in self._pending:
                if pending.path_prefix and not path.startswith(pending.path_prefix):
                    continue
                pending.remaining -= 1
                if pending.remaining <= 0:
                    self._pending.remove(pending)
                return pending.action
            if self.error_rate and self._random.random() < self.error_rate:
                return FaultAction(RANDOM_ERROR, status=500)
            return None

    def as_dict(self):
        """Return the current switches, as the control API reports them."""
        with self._lock:
            return {
                "errorRate": self.error_rate,
                "seed": self.seed,
                "latency": self.latency,
                "pending": [
                    {
                        "kind": pending.action.kind,
                        "status": pending.action.status,
                        "seconds": pending.action.seconds,
                        "malformedKind": pending.action.malformed_kind,
                        "applyRequest": pending.action.apply_request,
                        "remaining": pending.remaining,
                        "pathPrefix": pending.path_prefix,
                    }
                    for pending in self._pending
                ],
            }
