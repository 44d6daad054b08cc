from collections import deque

from ratelimit.clock import SystemClock


class SlidingWindow:
    """At most `limit` events in any `period` seconds."""

    def __init__(self, limit, period, clock=None):
        self.limit = limit
        self.period = period
        self.clock = clock or SystemClock()
        self.events = deque()

    def _expire(self, now):
        while self.events and self.events[0] <= now - self.period:
            self.events.popleft()

    def try_acquire(self):
        now = self.clock.now()
        self._expire(now)
        if len(self.events) < self.limit:
            self.events.append(now)
            return True
        return False

    def wait_time(self):
        now = self.clock.now()
        self._expire(now)
        if len(self.events) < self.limit:
            return 0.0
        return self.events[0] + self.period - now
