"""Merging and gap finding over collections of ranges."""

from daterange.core import DateRange


def merge(ranges):
    """Merge overlapping ranges; the result is sorted and disjoint."""
    out = []
    for r in sorted(ranges):
        if len(r) == 0:
            continue
        if out and out[-1].overlaps(r):
            last = out[-1]
            out[-1] = DateRange(last.start, max(last.end, r.end))
        else:
            out.append(r)
    return out


def gaps(ranges, within):
    """The days of `within` that no range covers, as ranges."""
    out = []
    cursor = within.start
    for r in merge(ranges):
        if r.end <= within.start or r.start >= within.end:
            continue
        if r.start > cursor:
            out.append(DateRange(cursor, min(r.start, within.end)))
        cursor = max(cursor, r.end)
    if cursor < within.end:
        out.append(DateRange(cursor, within.end))
    return out
