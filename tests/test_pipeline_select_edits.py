"""Search/replace edits: parsing, the exact -> whitespace -> fuzzy chain, errors for the model, diffs."""

from __future__ import annotations

import subprocess
from pathlib import Path

import pytest

from harness.pipeline.edits import EditBlock, EditFormatError, apply_edits, parse_edits, to_diff

SRC = """\
def area(w, h):
    return w * h


def perimeter(w, h):
    total = w + h
    return 2 * total


def describe(shape):
    name = shape.name
    return f"{name}: {area(shape.w, shape.h)}"
"""


def test_parse_blocks_with_fences_and_paths() -> None:
    text = """I will fix it.

```python
geo/shapes.py
<<<<<<< SEARCH
    total = w + h
=======
    total = w + h + 0
>>>>>>> REPLACE
```

and a new file

new/mod.py
<<<<<<< SEARCH
=======
X = 1
>>>>>>> REPLACE
"""
    blocks = parse_edits(text)
    assert blocks == [
        EditBlock("geo/shapes.py", "    total = w + h\n", "    total = w + h + 0\n"),
        EditBlock("new/mod.py", "", "X = 1\n"),
    ]


@pytest.mark.parametrize(
    ("text", "needle"),
    [
        ("no edits here", "holds no edit block"),
        ("<<<<<<< SEARCH\nx\n=======\ny\n>>>>>>> REPLACE\n", "no file path"),
        ("a.py\n<<<<<<< SEARCH\nx\n>>>>>>> REPLACE\n", "no `=======`"),
        ("a.py\n<<<<<<< SEARCH\nx\n=======\ny\n", "not closed"),
        ("a.py\n=======\ny\n>>>>>>> REPLACE\n", "outside an edit block"),
    ],
)
def test_malformed_answers_get_a_message_for_the_model(text: str, needle: str) -> None:
    with pytest.raises(EditFormatError) as info:
        parse_edits(text)
    assert needle in str(info.value)
    assert "<<<<<<< SEARCH" in str(info.value)  # the format is restated


def test_exact_match() -> None:
    out = apply_edits({"s.py": SRC}, [EditBlock("s.py", "    total = w + h\n", "    total = w + h  # sum\n")])
    assert out.ok and out.applied[0].method == "exact" and out.applied[0].line == 6
    assert "total = w + h  # sum" in out.sources["s.py"]


def test_whitespace_match_reindents_the_replacement() -> None:
    search = "total = w + h   \nreturn 2 * total\n"  # no indentation, trailing spaces
    replace = "total = w + h\nif total < 0:\n    raise ValueError(total)\nreturn 2 * total\n"
    out = apply_edits({"s.py": SRC}, [EditBlock("s.py", search, replace)])
    assert out.ok and out.applied[0].method == "whitespace"
    assert "    if total < 0:\n        raise ValueError(total)\n    return 2 * total\n" in out.sources["s.py"]
    compile(out.sources["s.py"], "s.py", "exec")


def test_fuzzy_match_within_threshold() -> None:
    search = '    name = shape.name\n    return f"{name}: {area(shape.w, shape.h )}"\n'  # one char off
    out = apply_edits({"s.py": SRC}, [EditBlock("s.py", search, "    return shape.name\n")])
    assert out.ok and out.applied[0].method == "fuzzy" and out.applied[0].line == 11
    assert out.sources["s.py"].endswith("def describe(shape):\n    return shape.name\n")


def test_no_match_shows_the_closest_lines() -> None:
    out = apply_edits({"s.py": SRC}, [EditBlock("s.py", "    total = width + height\n", "x\n")])
    assert not out.ok and out.errors[0].kind == "no_match"
    msg = out.feedback()
    assert "closest lines" in msg and "    6 |     total = w + h" in msg
    assert out.changed == [] and out.sources == {"s.py": SRC}


def test_ambiguous_exact_and_whitespace_matches() -> None:
    src = "a = 1\nb = 2\na = 1\n"
    out = apply_edits({"m.py": src}, [EditBlock("m.py", "a = 1\n", "a = 3\n")])
    assert out.errors[0].kind == "ambiguous" and "lines 1, 3" in out.errors[0].message
    out = apply_edits({"m.py": "  a = 1\nb = 2\n    a = 1\n"}, [EditBlock("m.py", "a  = 1\n", "a = 3\n")])
    assert out.errors[0].kind in {"ambiguous", "no_match"}
    out = apply_edits({"m.py": "  a = 1\nb = 2\n    a = 1\n"}, [EditBlock("m.py", " a = 1 \n", "a = 3\n")])
    assert out.errors[0].kind == "ambiguous" and "ignoring whitespace" in out.errors[0].message


def test_missing_file_suggests_a_close_path_and_new_file_is_created() -> None:
    out = apply_edits(
        {"geo/shapes.py": SRC},
        [EditBlock("geo/shape.py", "x\n", "y\n"), EditBlock("geo/new.py", "", "Z = 1\n")],
    )
    assert out.errors[0].kind == "missing_file" and "geo/shapes.py" in out.errors[0].message
    assert out.changed_sources == {"geo/new.py": "Z = 1\n"}
    assert out.sources == {"geo/shapes.py": SRC, "geo/new.py": "Z = 1\n"}
    out = apply_edits({"a.py": "x\n"}, [EditBlock("a.py", "", "y\n")])
    assert out.errors[0].kind == "file_exists"


def test_blocks_apply_in_order_and_a_failure_does_not_stop_the_rest() -> None:
    blocks = [
        EditBlock("s.py", "    return w * h\n", "    return abs(w * h)\n"),
        EditBlock("s.py", "nothing like this at all\n", "x\n"),
        EditBlock("s.py", "    return abs(w * h)\n", "    return abs(w) * abs(h)\n"),
    ]
    out = apply_edits({"s.py": SRC}, blocks)
    assert [a.index for a in out.applied] == [0, 2] and [e.index for e in out.errors] == [1]
    assert "return abs(w) * abs(h)" in out.sources["s.py"]
    assert "Block 2 (s.py)" in out.feedback()


def test_to_diff_applies_with_git(tmp_path: Path) -> None:
    old = {"s.py": SRC, "noeol.txt": "a\nb"}
    new = {"s.py": SRC.replace("w * h", "w * h * 1"), "noeol.txt": "a\nc", "pkg/new.py": "X = 1\n"}
    diff = to_diff(old, new)
    assert "new file mode" in diff and "\\ No newline at end of file" in diff
    for path, text in old.items():
        (tmp_path / path).write_text(text)
    subprocess.run(["git", "init", "-q"], cwd=tmp_path, check=True)
    (tmp_path / "p.diff").write_text(diff)
    subprocess.run(["git", "apply", "p.diff"], cwd=tmp_path, check=True)
    for path, text in new.items():
        assert (tmp_path / path).read_text() == text
    assert to_diff(old, old) == ""


def test_path_named_in_a_sentence_and_fuzzy_ambiguity() -> None:
    (block,) = parse_edits("In `geo/shapes.py`:\n<<<<<<< SEARCH\na\n=======\nb\n>>>>>>> REPLACE\n")
    assert block.path == "geo/shapes.py"
    src = "def f():\n    value = compute(1, 2)\n\n\ndef g():\n    value = compute(1, 3)\n"
    out = apply_edits({"m.py": src}, [EditBlock("m.py", "    value = compute(1, 4)\n", "    value = 0\n")])
    assert out.errors[0].kind == "ambiguous" and "lines 2 and 6" in out.errors[0].message


def test_fuzzy_match_in_a_long_file_even_when_every_line_changed() -> None:
    lines = [f"    item_{i} = build({i}, 'label {i % 7}')\n" for i in range(3000)]
    src = "".join(lines)
    # Every line of the search text differs a little from the file (one extra space each).
    search = "".join(ln.replace("(", "( ") for ln in lines[1500:1512])
    out = apply_edits({"big.py": src}, [EditBlock("big.py", search, "    pass\n")])
    assert out.ok and out.applied[0].method == "fuzzy" and out.applied[0].line == 1501
    assert out.sources["big.py"].splitlines()[1500] == "    pass"
    # Lines the file does not have: the closest lines are shown.
    out = apply_edits(
        {"big.py": src}, [EditBlock("big.py", "def nowhere():\n    return registry.get(None)\n", "x\n")]
    )
    assert out.errors[0].kind == "no_match" and "closest lines" in out.errors[0].message


def test_absolute_and_prefixed_paths_resolve_to_the_known_file() -> None:
    blocks = [
        EditBlock("/testbed/geo/shapes.py", "    return w * h\n", "    return h * w\n"),
        EditBlock("repo/geo/shapes.py", "    total = w + h\n", "    total = h + w\n"),
        EditBlock("/testbed/geo/extra.py", "", "E = 1\n"),
    ]
    out = apply_edits({"geo/shapes.py": SRC}, blocks)
    assert out.ok and out.changed == ["geo/extra.py", "geo/shapes.py"]
    assert [a.path for a in out.applied] == ["geo/shapes.py", "geo/shapes.py", "geo/extra.py"]
