from md2text import to_text
from md2text.inline import plain


def test_emphasis_and_links():
    assert plain("a **bold** and *soft* [site](https://x.org)") == "a BOLD and soft site (https://x.org)"
    assert plain("<[https://x.org](https://x.org)>") == "<https://x.org>"


def test_image():
    assert plain("![logo](logo.png)") == "[image: logo]"


def test_headings_and_items():
    text = to_text("# Title\n\nSome *text*.\n\n- one\n- two\n")
    assert text == "TITLE\n=====\n\nSome text.\n\n  * one\n\n  * two\n"


def test_wrapping():
    text = to_text("word " * 30, width=20)
    assert all(len(line) <= 20 for line in text.splitlines())


def test_code_block_indented():
    assert to_text("```\nx = 1\n```\n") == "    x = 1\n"
