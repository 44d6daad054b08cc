import pytest

from ratelimit import KeyedLimiter, SlidingWindow, TokenBucket
from ratelimit.clock import ManualClock


def test_bucket_burst_then_refill():
    clock = ManualClock()
    b = TokenBucket(rate=2, capacity=3, clock=clock)
    assert [b.try_acquire() for _ in range(4)] == [True, True, True, False]
    clock.sleep(0.5)
    assert b.try_acquire() is True
    assert b.try_acquire() is False


def test_bucket_wait_time():
    clock = ManualClock()
    b = TokenBucket(rate=4, capacity=4, clock=clock)
    assert b.try_acquire(4)
    assert b.wait_time(2) == pytest.approx(0.5)


def test_window():
    clock = ManualClock()
    w = SlidingWindow(limit=2, period=10, clock=clock)
    assert w.try_acquire() and w.try_acquire()
    assert not w.try_acquire()
    assert w.wait_time() == pytest.approx(10)
    clock.sleep(10)
    assert w.try_acquire()


def test_keyed_limits_are_separate():
    clock = ManualClock()
    k = KeyedLimiter(rate=1, capacity=1, clock=clock)
    assert k.try_acquire("alice") and k.try_acquire("bob")
    assert not k.try_acquire("alice")


def test_keyed_acquire_sleeps():
    clock = ManualClock()
    k = KeyedLimiter(rate=2, capacity=2, clock=clock)
    k.acquire("a", clock.sleep, n=2)
    k.acquire("a", clock.sleep, n=1)
    assert clock.now() == pytest.approx(0.5)
