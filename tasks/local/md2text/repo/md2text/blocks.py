"""Split Markdown into blocks: ('heading', level, text), ('para', text), ('item', text), ('code', text)."""

import re

HEADING = re.compile(r"^(#{1,6})\s+(.*?)\s*#*$")
ITEM = re.compile(r"^\s*[-*+]\s+(.*)$")


def split_blocks(source):
    blocks = []
    para = []
    lines = source.splitlines()
    i = 0

    def flush():
        if para:
            blocks.append(("para", " ".join(s.strip() for s in para)))
            para.clear()

    while i < len(lines):
        line = lines[i]
        if line.startswith("```"):
            flush()
            body = []
            i += 1
            while i < len(lines) and not lines[i].startswith("```"):
                body.append(lines[i])
                i += 1
            blocks.append(("code", "\n".join(body)))
        elif not line.strip():
            flush()
        elif HEADING.match(line):
            flush()
            m = HEADING.match(line)
            blocks.append(("heading", len(m.group(1)), m.group(2)))
        elif ITEM.match(line):
            flush()
            blocks.append(("item", ITEM.match(line).group(1)))
        else:
            para.append(line)
        i += 1
    flush()
    return blocks
