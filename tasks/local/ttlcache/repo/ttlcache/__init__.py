"""ttlcache: an LRU cache with per-entry time-to-live, and a memoizing decorator."""

from ttlcache.cache import TTLCache
from ttlcache.clock import FakeClock, MonotonicClock
from ttlcache.decorator import cached

__all__ = ["FakeClock", "MonotonicClock", "TTLCache", "cached"]
