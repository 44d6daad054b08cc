from ttlcache.clock import MonotonicClock
from ttlcache.store import Entry, LRUStore

_MISSING = object()


class TTLCache:
    """At most `maxsize` entries; each expires `ttl` seconds after it was set (None: never)."""

    def __init__(self, maxsize=128, ttl=None, clock=None):
        if maxsize < 1:
            raise ValueError("maxsize must be at least 1")
        self.maxsize = maxsize
        self.ttl = ttl
        self.clock = clock or MonotonicClock()
        self._store = LRUStore()
        self.hits = 0
        self.misses = 0

    def __len__(self):
        self._purge()
        return len(self._store)

    def _expiry(self, ttl):
        ttl = self.ttl if ttl is None else ttl
        return float("inf") if ttl is None else self.clock.now() + ttl

    def _purge(self):
        now = self.clock.now()
        for key, entry in self._store.items():
            if entry.expires_at <= now:
                self._store.delete(key)

    def set(self, key, value, ttl=None):
        self._store.put(key, Entry(value, self._expiry(ttl)))
        while len(self._store) > self.maxsize:
            self._store.delete(self._store.oldest())

    def get(self, key, default=None):
        entry = self._store.get(key)
        if entry is None or entry.expires_at <= self.clock.now():
            self.misses += 1
            return default
        self.hits += 1
        self._store.touch(key)
        return entry.value

    def __contains__(self, key):
        return self.get(key, _MISSING) is not _MISSING
