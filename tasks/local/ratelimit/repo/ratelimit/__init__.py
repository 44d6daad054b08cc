"""ratelimit: token-bucket and sliding-window limiters with an injectable clock."""

from ratelimit.bucket import TokenBucket
from ratelimit.keyed import KeyedLimiter
from ratelimit.window import SlidingWindow

__all__ = ["KeyedLimiter", "SlidingWindow", "TokenBucket"]
