from datetime import date

import pytest

from daterange import DateRange, format_range, parse_range


def test_len_and_iter():
    r = DateRange(date(2024, 1, 30), date(2024, 2, 2))
    assert len(r) == 3
    assert list(r) == [date(2024, 1, 30), date(2024, 1, 31), date(2024, 2, 1)]
    assert date(2024, 2, 2) not in r


def test_backwards_range_rejected():
    with pytest.raises(ValueError):
        DateRange(date(2024, 2, 1), date(2024, 1, 1))


@pytest.mark.parametrize("text", ["2024-03-01..2024-03-05", "2024-03-01"])
def test_text_round_trip(text):
    assert format_range(parse_range(text)) == text


def test_parse_is_inclusive():
    assert len(parse_range("2024-02-28..2024-03-01")) == 3
