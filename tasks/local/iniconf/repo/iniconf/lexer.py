"""Split INI text into logical lines: (lineno, kind, payload)."""

import re

SECTION = re.compile(r"^\[(?P<name>[^\]]+)\]\s*$")
OPTION = re.compile(r"^(?P<key>[^=:\s][^=:]*?)\s*[=:]\s*(?P<value>.*)$")
COMMENT_PREFIXES = ("#", ";")


def tokenize(text):
    tokens = []
    for lineno, raw in enumerate(text.splitlines(), 1):
        line = raw.rstrip()
        stripped = line.strip()
        if not stripped or stripped.startswith(COMMENT_PREFIXES):
            continue
        if raw[:1] in (" ", "\t") and tokens and tokens[-1][1] == "option":
            lineno0, _, (key, value) = tokens[-1]
            tokens[-1] = (lineno0, "option", (key, value + "\n" + stripped))
            continue
        m = SECTION.match(stripped)
        if m:
            tokens.append((lineno, "section", m.group("name").strip()))
            continue
        m = OPTION.match(stripped)
        if m:
            tokens.append((lineno, "option", (m.group("key"), m.group("value"))))
            continue
        tokens.append((lineno, "error", stripped))
    return tokens
