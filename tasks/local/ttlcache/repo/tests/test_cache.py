import pytest

from ttlcache import FakeClock, TTLCache, cached


def test_lru_eviction():
    c = TTLCache(maxsize=2)
    c.set("a", 1)
    c.set("b", 2)
    assert c.get("a") == 1  # a is now the most recent
    c.set("c", 3)
    assert "b" not in c
    assert c.get("a") == 1 and c.get("c") == 3


def test_ttl_expiry():
    clock = FakeClock()
    c = TTLCache(ttl=10, clock=clock)
    c.set("k", "v")
    clock.advance(9.5)
    assert c.get("k") == "v"
    clock.advance(1)
    assert c.get("k") is None
    assert len(c) == 0


def test_per_entry_ttl():
    clock = FakeClock()
    c = TTLCache(ttl=100, clock=clock)
    c.set("short", 1, ttl=1)
    c.set("long", 2)
    clock.advance(2)
    assert c.get("short") is None and c.get("long") == 2


def test_maxsize_validated():
    with pytest.raises(ValueError):
        TTLCache(maxsize=0)


def test_decorator_counts_calls():
    calls = []

    @cached(maxsize=4)
    def square(x):
        calls.append(x)
        return x * x

    assert [square(2), square(2), square(3)] == [4, 4, 9]
    assert calls == [2, 3]
    assert square.cache.hits == 1
