"""Versions ('1.10.2') and constraints ('>=1.2,<2', '==1.4', '*')."""

import operator

OPS = {">=": operator.ge, "<=": operator.le, "==": operator.eq, "!=": operator.ne, ">": operator.gt, "<": operator.lt}


def parse_version(text):
    return tuple(int(part) for part in text.strip().split("."))


def _clause(text):
    text = text.strip()
    for symbol in sorted(OPS, key=len, reverse=True):
        if text.startswith(symbol):
            return OPS[symbol], parse_version(text[len(symbol):])
    return operator.eq, parse_version(text)


def satisfies(version, constraint):
    constraint = constraint.strip()
    if constraint in ("", "*"):
        return True
    v = parse_version(version)
    return all(op(v, bound) for op, bound in map(_clause, constraint.split(",")))
