from unitconv.parse import parse_unit


class IncompatibleUnits(ValueError):
    pass


def convert(value, source, target):
    src, dst = parse_unit(source), parse_unit(target)
    if src.dims != dst.dims:
        raise IncompatibleUnits(f"cannot convert {source} to {target}")
    si = value * src.factor + src.offset
    return (si - dst.offset) / dst.factor
