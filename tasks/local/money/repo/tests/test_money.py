import pytest

from money import Money, format_money


def test_arithmetic():
    assert Money("0.10", "EUR") + Money("0.20", "EUR") == Money("0.30", "EUR")
    with pytest.raises(TypeError):
        Money(1, "EUR") + Money(1, "USD")


def test_multiply_rounds_half_even():
    assert Money("0.125", "USD") * 1 == Money("0.12", "USD")


def test_allocate_euros():
    parts = Money("100", "EUR").allocate([1, 1, 1])
    assert parts == [Money("33.34", "EUR"), Money("33.33", "EUR"), Money("33.33", "EUR")]
    assert sum((p for p in parts), Money(0, "EUR")) == Money("100", "EUR")


@pytest.mark.parametrize(
    ("amount", "code", "locale", "text"),
    [
        ("1234567.5", "USD", "en_US", "$1,234,567.50"),
        ("1234.5", "EUR", "de_DE", "1.234,50 €"),
        ("-3", "CHF", "fr_CH", "-CHF 3.00"),
    ],
)
def test_format(amount, code, locale, text):
    assert format_money(Money(amount, code), locale) == text
