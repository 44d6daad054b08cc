import html

FILTERS = {
    "upper": lambda v: str(v).upper(),
    "lower": lambda v: str(v).lower(),
    "escape": lambda v: html.escape(str(v)),
    "length": lambda v: len(v),
    "title": lambda v: str(v).title(),
}


def apply(name, value):
    try:
        return FILTERS[name](value)
    except KeyError:
        raise KeyError(f"unknown filter {name!r}") from None
