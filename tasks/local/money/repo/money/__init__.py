"""money: exact money amounts with currencies, splitting, and locale-aware formatting."""

from money.amount import Money
from money.fmt import format_money

__all__ = ["Money", "format_money"]
