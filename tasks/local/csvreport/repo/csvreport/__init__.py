"""csvreport: group CSV rows and print aggregate tables."""

from csvreport.report import build_report, render_report

__all__ = ["build_report", "render_report"]
