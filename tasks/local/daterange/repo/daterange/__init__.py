"""daterange: half-open date ranges, parsing and merging."""

from daterange.core import DateRange
from daterange.merge import gaps, merge
from daterange.text import format_range, parse_range

__all__ = ["DateRange", "format_range", "gaps", "merge", "parse_range"]
