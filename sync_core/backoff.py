"""Retry delays: exponential backoff with full jitter.

The delay before retry number ``attempt`` is drawn uniformly from
``[0, min(cap, base * factor ** (attempt - 1))]``. Full jitter (rather than
decorrelated jitter) keeps the function stateless, since it needs no previous
delay, and spreads out the workers that failed at the same moment, for
example after one CRM rate-limit response hit them all. A delay the CRM asked
for (``Retry-After``) is a floor: the result is never shorter, even when it
exceeds ``cap``.
"""

import datetime
import email.utils
import math
import random

# Upper bound of the first retry's delay, in seconds.
BASE_DELAY_SECONDS = 5.0

# Growth of the delay's upper bound per attempt (dimensionless).
BACKOFF_FACTOR = 2

# Upper bound of any computed delay, in seconds (one hour). A CRM's
# Retry-After may still ask for longer.
MAX_DELAY_SECONDS = 3600.0

# Attempts, the first included, before a job counts as failed. With the
# defaults, the upper bounds of the seven waits add up to about 10.6 minutes.
MAX_ATTEMPTS = 8


def next_delay(
    attempt,
    base=BASE_DELAY_SECONDS,
    factor=BACKOFF_FACTOR,
    cap=MAX_DELAY_SECONDS,
    retry_after=None,
    rng=random,
):
    """Return the delay in seconds before retry number ``attempt`` (from 1).

    ``rng`` is anything with a ``uniform(a, b)`` method, such as the
    ``random`` module or a seeded ``random.Random``.
    """
    if attempt < 1:
        raise ValueError(f"attempt must be 1 or more, not {attempt!r}")
    if base < 0 or cap < 0 or factor < 1:
        raise ValueError(
            f"invalid backoff settings: base={base!r}, factor={factor!r}, cap={cap!r}"
        )
    delay = rng.uniform(0.0, _ceiling(attempt, base, factor, cap))
    if retry_after is not None:
        delay = max(delay, float(retry_after), 0.0)
    return delay


def attempts_exhausted(attempt, max_attempts=MAX_ATTEMPTS):
    """Return whether ``attempt`` attempts have used up the allowed number."""
    return attempt >= max_attempts


def parse_retry_after(value, now=None):
    """Return a ``Retry-After`` header value as seconds, or None.

    The header is either a number of seconds or an HTTP date (RFC 9110). A
    date in the past gives 0. ``now`` is an aware datetime, by default the
    current UTC time. Unreadable values give None, so that the caller falls
    back to its own backoff.
    """
    if value is None:
        return None
    text = str(value).strip()
    try:
        seconds = float(text)
    except ValueError:
        seconds = None
    if seconds is not None:
        return max(seconds, 0.0) if math.isfinite(seconds) else None
    try:
        moment = email.utils.parsedate_to_datetime(text)
    except (TypeError, ValueError):
        return None
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=datetime.UTC)
    now = now or datetime.datetime.now(datetime.UTC)
    return max((moment - now).total_seconds(), 0.0)


def _ceiling(attempt, base, factor, cap):
    try:
        return min(cap, base * factor ** (attempt - 1))
    except OverflowError:
        return cap
