import datetime
import random

import pytest
from hypothesis import given
from hypothesis import strategies as st

from sync_core import backoff


class FixedRandom:
    """A stand-in for ``random`` that always returns one end of the range."""

    def __init__(self, pick_upper):
        self.pick_upper = pick_upper

    def uniform(self, low, high):
        return high if self.pick_upper else low


def test_next_delay_upper_bound_doubles():
    upper = FixedRandom(pick_upper=True)
    delays = [
        backoff.next_delay(attempt, base=1.0, cap=100.0, rng=upper)
        for attempt in range(1, 6)
    ]
    assert delays == [1.0, 2.0, 4.0, 8.0, 16.0]


def test_next_delay_capped():
    upper = FixedRandom(pick_upper=True)
    assert backoff.next_delay(30, base=1.0, cap=60.0, rng=upper) == 60.0


def test_next_delay_huge_attempt_no_overflow():
    upper = FixedRandom(pick_upper=True)
    assert backoff.next_delay(100_000, rng=upper) == backoff.MAX_DELAY_SECONDS


def test_next_delay_full_jitter_reaches_zero():
    lower = FixedRandom(pick_upper=False)
    assert backoff.next_delay(3, rng=lower) == 0.0


def test_next_delay_never_below_retry_after():
    lower = FixedRandom(pick_upper=False)
    assert backoff.next_delay(1, retry_after=7, rng=lower) == 7.0
    # A CRM may ask for longer than the cap, and it gets it.
    assert backoff.next_delay(1, cap=10.0, retry_after=90, rng=lower) == 90.0


def test_next_delay_negative_retry_after_ignored():
    lower = FixedRandom(pick_upper=False)
    assert backoff.next_delay(1, retry_after=-5, rng=lower) == 0.0


@pytest.mark.parametrize("attempt", [0, -1])
def test_next_delay_rejects_attempt_below_one(attempt):
    with pytest.raises(ValueError):
        backoff.next_delay(attempt)


def test_next_delay_rejects_shrinking_factor():
    with pytest.raises(ValueError):
        backoff.next_delay(2, factor=0.5)


@given(
    attempt=st.integers(min_value=1, max_value=200),
    retry_after=st.one_of(st.none(), st.floats(min_value=0, max_value=10_000)),
    seed=st.integers(),
)
def test_next_delay_within_bounds(attempt, retry_after, seed):
    delay = backoff.next_delay(
        attempt, retry_after=retry_after, rng=random.Random(seed)
    )
    ceiling = min(
        backoff.MAX_DELAY_SECONDS,
        backoff.BASE_DELAY_SECONDS * 2 ** min(attempt - 1, 64),
    )
    assert delay >= 0.0
    if retry_after is None:
        assert delay <= ceiling
    else:
        assert delay >= retry_after
        assert delay <= max(ceiling, retry_after)


def test_next_delay_jitter_spreads_values():
    rng = random.Random(42)
    delays = {round(backoff.next_delay(5, rng=rng), 3) for _ in range(50)}
    assert len(delays) > 40


def test_attempts_exhausted_at_max():
    assert not backoff.attempts_exhausted(backoff.MAX_ATTEMPTS - 1)
    assert backoff.attempts_exhausted(backoff.MAX_ATTEMPTS)
    assert backoff.attempts_exhausted(3, max_attempts=3)


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("7", 7.0),
        ("0.5", 0.5),
        (" 12 ", 12.0),
        (3, 3.0),
        ("-4", 0.0),
        (None, None),
        ("soon", None),
        ("nan", None),
        ("inf", None),
    ],
)
def test_parse_retry_after_seconds(value, expected):
    assert backoff.parse_retry_after(value) == expected


def test_parse_retry_after_http_date():
    now = datetime.datetime(2015, 10, 21, 7, 28, 0, tzinfo=datetime.UTC)
    result = backoff.parse_retry_after("Wed, 21 Oct 2015 07:28:30 GMT", now=now)
    assert result == 30.0


def test_parse_retry_after_past_date_is_zero():
    now = datetime.datetime(2015, 10, 21, 8, 0, 0, tzinfo=datetime.UTC)
    assert backoff.parse_retry_after("Wed, 21 Oct 2015 07:28:00 GMT", now=now) == 0.0
