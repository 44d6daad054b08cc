"""Aggregations over a column of a group of rows."""


def _values(rows, column):
    return [row.get(column) for row in rows]


def count(rows, column):
    return sum(1 for v in _values(rows, column) if v is not None)


def total(rows, column):
    return sum(v for v in _values(rows, column) if v is not None)


def mean(rows, column):
    values = _values(rows, column)
    if not values:
        return None
    return total(rows, column) / len(values)


def maximum(rows, column):
    values = [v for v in _values(rows, column) if v is not None]
    return max(values) if values else None


AGGREGATES = {"count": count, "sum": total, "avg": mean, "max": maximum}


def group_by(rows, key):
    groups = {}
    for row in rows:
        groups.setdefault(row.get(key), []).append(row)
    return groups
