"""Inline markup: emphasis, links, images and code spans."""

import re

IMAGE = re.compile(r"!\[([^\]]*)\]\(([^)]+)\)")
LINK = re.compile(r"\[([^\]]+)\]\(([^)]+)\)")
STRONG = re.compile(r"(\*\*|__)(.+?)\1")
EMPH = re.compile(r"(\*|_)(.+?)\1")
CODE = re.compile(r"`([^`]+)`")


def plain(text):
    text = IMAGE.sub(lambda m: f"[image: {m.group(1) or m.group(2)}]", text)
    text = LINK.sub(lambda m: m.group(1) if m.group(1) == m.group(2) else f"{m.group(1)} ({m.group(2)})", text)
    text = STRONG.sub(lambda m: m.group(2).upper(), text)
    text = EMPH.sub(lambda m: m.group(2), text)
    text = CODE.sub(lambda m: m.group(1), text)
    return text
