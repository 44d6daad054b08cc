import re

TOKEN = re.compile(r"({{.*?}}|{%.*?%})", re.S)


def tokenize(source):
    """Yield (kind, text) with kind in {'text', 'var', 'block'}."""
    for part in TOKEN.split(source):
        if not part:
            continue
        if part.startswith("{{"):
            yield "var", part[2:-2].strip()
        elif part.startswith("{%"):
            yield "block", part[2:-2].strip()
        else:
            yield "text", part
