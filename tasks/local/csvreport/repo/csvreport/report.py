"""A report: rows grouped by one column, with aggregates of others."""

from csvreport.aggregate import AGGREGATES, group_by
from csvreport.formatting import render_table
from csvreport.reader import read_rows


def build_report(text, by, columns):
    """columns: list of 'agg:column' specs such as 'sum:amount' or 'avg:price'."""
    rows = read_rows(text)
    specs = []
    for spec in columns:
        agg, _, column = spec.partition(":")
        if agg not in AGGREGATES:
            raise ValueError(f"unknown aggregate {agg!r}; use one of {sorted(AGGREGATES)}")
        specs.append((spec, AGGREGATES[agg], column))
    header = [by] + [s for s, _, _ in specs]
    body = []
    for key, group in sorted(group_by(rows, by).items(), key=lambda kv: str(kv[0])):
        body.append([key] + [fn(group, column) for _, fn, column in specs])
    return header, body


def render_report(text, by, columns):
    return render_table(*build_report(text, by, columns))
