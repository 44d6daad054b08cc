from ratelimit.clock import SystemClock


class TokenBucket:
    """`rate` tokens per second, at most `capacity` stored. Starts full."""

    def __init__(self, rate, capacity, clock=None):
        if rate <= 0 or capacity <= 0:
            raise ValueError("rate and capacity must be positive")
        self.rate = rate
        self.capacity = capacity
        self.clock = clock or SystemClock()
        self.tokens = float(capacity)
        self.updated = self.clock.now()

    def _refill(self):
        now = self.clock.now()
        self.tokens = min(self.capacity, self.tokens + (now - self.updated) * self.rate)
        self.updated = now

    def try_acquire(self, n=1):
        self._refill()
        if self.tokens >= n:
            self.tokens -= n
            return True
        return False

    def wait_time(self, n=1):
        """Seconds until `n` tokens are available (0 when they are now)."""
        self._refill()
        if n > self.capacity:
            raise ValueError(f"cannot wait for {n} tokens: the capacity is {self.capacity}")
        return max(0.0, (n - self.tokens) / self.rate)
