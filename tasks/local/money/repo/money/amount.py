from decimal import ROUND_HALF_EVEN, Decimal

from money.currency import get_currency

CENT = Decimal("0.01")


class Money:
    __slots__ = ("amount", "currency")

    def __init__(self, amount, currency):
        self.currency = get_currency(currency).code
        self.amount = Decimal(str(amount))

    def __repr__(self):
        return f"Money('{self.amount}', '{self.currency}')"

    def __eq__(self, other):
        return isinstance(other, Money) and (self.amount, self.currency) == (other.amount, other.currency)

    def __hash__(self):
        return hash((self.amount, self.currency))

    def _check(self, other):
        if not isinstance(other, Money) or other.currency != self.currency:
            raise TypeError(f"cannot combine {self!r} with {other!r}")

    def __add__(self, other):
        self._check(other)
        return Money(self.amount + other.amount, self.currency)

    def __sub__(self, other):
        self._check(other)
        return Money(self.amount - other.amount, self.currency)

    def __mul__(self, factor):
        return Money(self.amount * Decimal(str(factor)), self.currency).rounded()

    def rounded(self):
        return Money(self.amount.quantize(CENT, rounding=ROUND_HALF_EVEN), self.currency)

    def allocate(self, ratios):
        """Split into parts proportional to `ratios`; the parts add up exactly to this amount.

        Leftover minor units go one each to the first parts.
        """
        total = sum(ratios)
        if total <= 0:
            raise ValueError("ratios must add up to a positive number")
        units = int(self.amount / CENT)
        parts = [units * r // total for r in ratios]
        for i in range(units - sum(parts)):
            parts[i] += 1
        return [Money(p * CENT, self.currency) for p in parts]
