from dataclasses import dataclass
from decimal import Decimal


@dataclass(frozen=True)
class Currency:
    code: str
    minor_units: int  # digits after the decimal point
    symbol: str


CURRENCIES = {
    c.code: c
    for c in [
        Currency("EUR", 2, "€"),
        Currency("USD", 2, "$"),
        Currency("GBP", 2, "£"),
        Currency("JPY", 0, "¥"),
        Currency("KWD", 3, "KD"),
        Currency("CHF", 2, "CHF"),
    ]
}


def get_currency(code):
    try:
        return CURRENCIES[code.upper()]
    except KeyError:
        raise ValueError(f"unknown currency {code!r}") from None


def quantum(code):
    """The smallest unit of `code` as a Decimal: 0.01 for EUR, 1 for JPY, 0.001 for KWD."""
    return Decimal(1).scaleb(-get_currency(code).minor_units)
