"""Formatting for a few locales: grouping and decimal separators, symbol placement."""

from money.currency import get_currency

LOCALES = {
    "en_US": {"group": ",", "decimal": ".", "pattern": "{sym}{num}"},
    "de_DE": {"group": ".", "decimal": ",", "pattern": "{num} {sym}"},
    "fr_CH": {"group": "'", "decimal": ".", "pattern": "{sym} {num}"},
}


def _group(digits, sep):
    out = []
    while len(digits) > 3:
        out.insert(0, digits[-3:])
        digits = digits[:-3]
    out.insert(0, digits)
    return sep.join(out)


def format_money(money, locale="en_US"):
    conv = LOCALES[locale]
    cur = get_currency(money.currency)
    amount = money.rounded().amount
    sign = "-" if amount < 0 else ""
    text = f"{abs(amount):f}"
    whole, _, frac = text.partition(".")
    num = _group(whole, conv["group"])
    if cur.minor_units:
        num += conv["decimal"] + frac.ljust(cur.minor_units, "0")[: cur.minor_units]
    return sign + conv["pattern"].format(sym=cur.symbol, num=num)
