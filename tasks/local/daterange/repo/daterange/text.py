"""Text forms: '2024-01-01..2024-01-31' (both days included) and single days."""

from datetime import date

from daterange.core import ONE_DAY, DateRange


def parse_range(text):
    text = text.strip()
    if ".." in text:
        first, last = (part.strip() for part in text.split("..", 1))
        return DateRange(date.fromisoformat(first), date.fromisoformat(last) + ONE_DAY)
    day = date.fromisoformat(text)
    return DateRange(day, day + ONE_DAY)


def format_range(r):
    if len(r) == 1:
        return r.start.isoformat()
    return f"{r.start.isoformat()}..{r.last.isoformat()}"
