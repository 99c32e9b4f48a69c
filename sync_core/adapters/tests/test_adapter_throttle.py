import pytest

from sync_core.adapters.throttle import RollingWindowThrottle, shared_throttle


class FakeClock:
    """Monotonic clock that only moves when the throttle sleeps."""

    def __init__(self):
        self.now = 100.0
        self.sleeps = []

    def __call__(self):
        return self.now

    def sleep(self, seconds):
        self.sleeps.append(seconds)
        self.now += seconds


def send(throttle, clock, duration=0.0):
    """Hold one throttle slot for a request that takes ``duration`` seconds."""
    with throttle.slot():
        clock.now += duration


def test_throttle_allows_limit_without_waiting():
    clock = FakeClock()
    throttle = RollingWindowThrottle(3, 10.0, clock=clock, sleep=clock.sleep)

    for _ in range(3):
        send(throttle, clock)

    assert clock.sleeps == []


def test_throttle_waits_for_oldest_slot():
    clock = FakeClock()
    throttle = RollingWindowThrottle(2, 10.0, clock=clock, sleep=clock.sleep)
    send(throttle, clock)
    clock.now += 4.0
    send(throttle, clock)

    send(throttle, clock)

    assert clock.sleeps == [pytest.approx(6.0)]
    assert clock.now == pytest.approx(110.0)


def test_throttle_window_rolls():
    clock = FakeClock()
    throttle = RollingWindowThrottle(2, 1.0, clock=clock, sleep=clock.sleep)

    for _ in range(10):
        send(throttle, clock)

    # Ten requests at two per second need four waits of one second each.
    assert sum(clock.sleeps) == pytest.approx(4.0)


def test_throttle_counts_window_from_response():
    clock = FakeClock()
    throttle = RollingWindowThrottle(1, 10.0, clock=clock, sleep=clock.sleep)
    send(throttle, clock, duration=3.0)

    send(throttle, clock)

    # The first request ended at 103.0, so its slot frees at 113.0, not 110.0.
    assert clock.sleeps == [pytest.approx(10.0)]
    assert clock.now == pytest.approx(113.0)


@pytest.mark.parametrize(("limit", "window"), [(0, 10.0), (5, 0), (5, -1.0)])
def test_throttle_rejects_invalid_limits(limit, window):
    with pytest.raises(ValueError):
        RollingWindowThrottle(limit, window)


def test_shared_throttle_keys():
    first = shared_throttle("http://127.0.0.1:1", "token-a", 100, 10.0)

    assert shared_throttle("http://127.0.0.1:1", "token-a", 100, 10.0) is first
    assert shared_throttle("http://127.0.0.1:1", "token-b", 100, 10.0) is not first
    assert shared_throttle("http://127.0.0.1:2", "token-a", 100, 10.0) is not first
    assert (
        shared_throttle("http://127.0.0.1:1", "token-a", 100, 10.0, "search")
        is not first
    )
