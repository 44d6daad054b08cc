"""Classify raw argv words.

('long', name, value_or_None)   --name or --name=value
('short', letters)              -v, -abc (a cluster of one-letter options)
('value', text)                 anything else
('end',)                        -- : everything after it is positional
"""


def classify(argv):
    out = []
    rest = False
    for word in argv:
        if rest:
            out.append(("value", word))
        elif word == "--":
            out.append(("end",))
            rest = True
        elif word.startswith("--"):
            name, eq, value = word[2:].partition("=")
            out.append(("long", name, value if eq else None))
        elif word.startswith("-") and len(word) > 1:
            out.append(("short", word[1:]))
        else:
            out.append(("value", word))
    return out
