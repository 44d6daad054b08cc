"""DateRange: the half-open interval [start, end) of calendar days."""

from dataclasses import dataclass
from datetime import date, timedelta

ONE_DAY = timedelta(days=1)


@dataclass(frozen=True, order=True)
class DateRange:
    start: date
    end: date  # exclusive

    def __post_init__(self):
        if self.end < self.start:
            raise ValueError(f"range ends before it starts: {self.start} > {self.end}")

    def __len__(self):
        return (self.end - self.start).days

    def __contains__(self, day):
        return self.start <= day < self.end

    def __iter__(self):
        day = self.start
        while day < self.end:
            yield day
            day += ONE_DAY

    @property
    def last(self):
        """The last day inside the range."""
        return self.end - ONE_DAY

    def overlaps(self, other):
        return self.start < other.end and other.start < self.end

    def touches(self, other):
        """True when the ranges overlap or one starts the day the other ends."""
        return self.overlaps(other) or self.end == other.start or other.end == self.start
