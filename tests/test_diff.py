"""The one reader of unified diffs (``harness/evaluation/_diff.py``): unidiff, and a line scan for the
diffs unidiff cannot read."""

from __future__ import annotations

from harness.ensemble._votes import vote_key
from harness.evaluation._diff import changed_lines, old_files, patch_files, read_diff
from harness.pipeline.voting import normalize_diff

TWO = (
    "diff --git a/src/a.py b/src/a.py\n"
    "index 1111111..2222222 100644\n"
    "--- a/src/a.py\n"
    "+++ b/src/a.py\n"
    "@@ -1,3 +1,5 @@ def f():\n"
    " keep\n"
    "-    x = 1\n"
    "+    x  =  2\n"
    "--- a removed line that starts with two dashes\n"
    "+++ an added line that starts with two pluses\n"
    "+# a comment\n"
    "+\n"
    "diff --git a/old.py b/old.py\n"
    "deleted file mode 100644\n"
    "--- a/old.py\n"
    "+++ /dev/null\n"
    "@@ -1 +0,0 @@\n"
    "-gone\n"
    "diff --git a/r.py b/s.py\n"
    "similarity index 100%\n"
    "rename from r.py\n"
    "rename to s.py\n"
)


def test_hunk_lines_that_look_like_headers_are_lines() -> None:
    """The regex parsers took ``--- x`` and ``+++ x`` inside a hunk for file headers."""
    fixed = TWO
    assert read_diff(fixed) is not None
    [a, old] = changed_lines(fixed)
    assert a.path == "src/a.py" and old.path == "/dev/null"
    assert a.lines == [
        "-    x = 1",
        "+    x  =  2",
        "--- a removed line that starts with two dashes",
        "+++ an added line that starts with two pluses",
        "+# a comment",
        "+",
    ]
    assert normalize_diff(fixed).splitlines() == [
        "@src/a.py",
        "-x = 1",
        "+x = 2",
        "--- a removed line that starts with two dashes",
        "+++ an added line that starts with two pluses",
        "@/dev/null",
        "-gone",
    ]
    assert patch_files(fixed) == ["src/a.py", "s.py"]  # deleted files left out, a rename's new name


def test_an_unreadable_diff_is_still_read_line_by_line() -> None:
    """A model's hunk with miscounted lines (``patch --fuzz`` may still apply it) names its files and
    votes as before, by the regex rules the parsers had."""
    short = TWO.replace("@@ -1,3 +1,5 @@", "@@ -1,3 +1,7 @@")  # the hunk ends before its counts
    assert read_diff(short) is None
    assert patch_files(short) == ["src/a.py", "s.py"]
    assert normalize_diff(short).splitlines() == [
        "@src/a.py",
        "-x = 1",
        "+x = 2",
        "@an",
        "@/dev/null",
        "-gone",
    ]
    # (the old rules: a '+++ ' line starts a file, a '---' line is a header)


def test_lines_past_a_hunks_counts_do_not_vote() -> None:
    """As ``git apply`` skips them (the regex parser counted them)."""
    long = TWO.replace("@@ -1,3 +1,5 @@", "@@ -1,3 +1,3 @@")
    assert changed_lines(long)[0].lines[-1] == "+++ an added line that starts with two pluses"


def test_plain_diffs_and_spaces() -> None:
    plain = "--- a/x.py\t2024-01-01\n+++ b/x.py\t2024-01-02\n@@ -1 +1 @@\n-a\n+b\n"
    assert patch_files(plain) == []  # only files with a git header count, as before
    assert normalize_diff(plain) == "@x.py\n-a\n+b"
    spaced = "diff --git a/my file.py b/my file.py\n--- a/my file.py\n+++ b/my file.py\n@@ -1 +1 @@\n-a\n+b\n"
    assert patch_files(spaced) == ["my file.py"]  # the regex (\S+) skipped it
    crlf = plain.replace("\n", "\r\n")
    assert normalize_diff(crlf) == normalize_diff(plain)


def test_votes_ignore_order_and_context() -> None:
    a = "diff --git a/x b/x\n--- a/x\n+++ b/x\n@@ -1,2 +1,2 @@\n ctx\n-a\n+b\n@@ -9 +9 @@\n-c\n+d\n"
    b = "diff --git a/x b/x\n--- a/x\n+++ b/x\n@@ -9 +9 @@\n-c\n+d\n@@ -1,2 +1,2 @@\n other\n-a\n+b\n"
    assert normalize_diff(a) != normalize_diff(b) and vote_key(a) == vote_key(b)


def test_old_files_as_swebench_reads_them() -> None:
    """The ``a/`` side, as swebench's ``get_modified_files``: a deleted file and a rename's old name
    count, a new file does not."""
    new = "diff --git a/n.py b/n.py\nnew file mode 100644\n--- /dev/null\n+++ b/n.py\n@@ -0,0 +1 @@\n+x\n"
    assert old_files(TWO + new) == ["src/a.py", "old.py", "r.py"]
    assert patch_files(TWO + new) == ["src/a.py", "s.py", "n.py"]
