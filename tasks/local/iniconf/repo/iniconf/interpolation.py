"""Expand ${key} and ${section:key} references."""

import re

from iniconf.errors import InterpolationError

REF = re.compile(r"\$\{([^}]+)\}")
MAX_DEPTH = 10


def expand(sections, section, value, depth=0):
    if depth > MAX_DEPTH:
        raise InterpolationError(f"interpolation too deep in section {section!r}")

    def replace(match):
        ref = match.group(1)
        if ":" in ref:
            ref_section, ref_key = ref.split(":", 1)
        else:
            ref_section, ref_key = section, ref
        try:
            raw = lookup(sections, ref_section, ref_key)
        except KeyError:
            raise InterpolationError(
                f"missing key {ref_key!r} in section {ref_section!r}"
            ) from None
        return expand(sections, ref_section, raw, depth + 1)

    return REF.sub(replace, value)


def lookup(sections, section, key):
    values = sections[section]
    if key in values:
        return values[key]
    return sections["default"][key]
