"""One limiter per key (user, IP, API token), created on first use."""

from ratelimit.bucket import TokenBucket


class KeyedLimiter:
    def __init__(self, rate, capacity, clock=None, factory=None):
        self.factory = factory or (lambda: TokenBucket(rate, capacity, clock))
        self.limiters = {}

    def limiter(self, key):
        if key not in self.limiters:
            self.limiters[key] = self.factory()
        return self.limiters[key]

    def try_acquire(self, key, n=1):
        return self.limiter(key).try_acquire(n)

    def acquire(self, key, sleep, n=1):
        """Block (through `sleep`) until `n` tokens for `key` are taken."""
        limiter = self.limiter(key)
        while not limiter.try_acquire(n):
            sleep(limiter.wait_time(n))
