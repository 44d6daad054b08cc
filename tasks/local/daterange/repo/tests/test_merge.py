from daterange import format_range, merge, parse_range


def fmt(ranges):
    return [format_range(r) for r in ranges]


def test_merge_overlapping():
    rs = [parse_range("2024-01-05..2024-01-12"), parse_range("2024-01-01..2024-01-06")]
    assert fmt(merge(rs)) == ["2024-01-01..2024-01-12"]


def test_merge_disjoint_sorted():
    rs = [parse_range("2024-02-01"), parse_range("2024-01-01..2024-01-03")]
    assert fmt(merge(rs)) == ["2024-01-01..2024-01-03", "2024-02-01"]
