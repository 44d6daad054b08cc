import functools

from ttlcache.cache import TTLCache

_MISSING = object()


def cached(maxsize=128, ttl=None, clock=None):
    def wrap(fn):
        cache = TTLCache(maxsize, ttl, clock)

        @functools.wraps(fn)
        def inner(*args, **kwargs):
            key = (args, tuple(sorted(kwargs.items())))
            value = cache.get(key, _MISSING)
            if value is _MISSING:
                value = fn(*args, **kwargs)
                cache.set(key, value)
            return value

        inner.cache = cache
        return inner

    return wrap
