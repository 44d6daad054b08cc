import textwrap

from md2text.blocks import split_blocks
from md2text.inline import plain


def _heading(level, text):
    if level == 1:
        return f"{text.upper()}\n{'=' * len(text)}"
    if level == 2:
        return f"{text}\n{'-' * len(text)}"
    return text


def to_text(source, width=72):
    out = []
    for block in split_blocks(source):
        kind = block[0]
        if kind == "heading":
            out.append(_heading(block[1], plain(block[2])))
        elif kind == "item":
            out.append(textwrap.fill(plain(block[1]), width, initial_indent="  * ", subsequent_indent="    "))
        elif kind == "code":
            out.append(textwrap.indent(plain(block[1]), "    "))
        else:
            out.append(textwrap.fill(plain(block[1]), width))
    return "\n\n".join(out) + "\n"
