"""``patch_key``: patches that must get the same verdict share a key, patches that could apply
differently do not."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from harness.evaluation import patch_key, patch_sha256

PATCH = """diff --git a/pkg/ops.py b/pkg/ops.py
index 757cb2797..08670d2b2 100644
--- a/pkg/ops.py
+++ b/pkg/ops.py
@@ -1,3 +1,5 @@ def mean(values):
 def mean(values):
+    if not values:
+        raise ValueError("empty")
     return sum(values) / len(values)
-
+# end
"""
PREDS = Path(__file__).resolve().parents[2] / "shared" / "data" / "swebench" / "predictions"


def test_noise_that_no_tool_reads_gives_the_same_key() -> None:
    key = patch_key(PATCH)
    assert len(key) == 64
    variants = {
        "index line": PATCH.replace("index 757cb2797..08670d2b2 100644", "index 1111111..2222222 100644"),
        "no index line": PATCH.replace("index 757cb2797..08670d2b2 100644\n", ""),
        "blank lines after": PATCH + "\n\n",
        "crlf index line only": PATCH.replace("100644\n", "100644\r\n", 1),
        "leading newline": "\n" + PATCH,
        "header noise": "From 1234 Mon Sep 17 00:00:00 2001\nSubject: [PATCH] fix\n\n---\n" + PATCH,
        "section heading": PATCH.replace("@@ def mean(values):", "@@"),
    }
    for name, text in variants.items():
        assert patch_key(text) == key, name
        assert patch_sha256(text) != patch_sha256(PATCH), name


def test_what_decides_applying_changes_the_key() -> None:
    key = patch_key(PATCH)
    variants = {
        # Context lines are what git apply and patch look for: another context may not apply.
        "context": PATCH.replace(" def mean(values):\n+", " def mean(vals):\n+"),
        "hunk position": PATCH.replace("@@ -1,3 +1,5 @@", "@@ -2,3 +2,5 @@"),
        "indentation": PATCH.replace('+        raise ValueError("empty")', '+\traise ValueError("empty")'),
        "trailing space in an added line": PATCH.replace("+# end", "+# end "),
        "another file": PATCH.replace("pkg/ops.py", "pkg/other.py"),
        "one CRLF line is content": PATCH.replace("+# end\n", "+# end\r\n"),
        # Both look like noise but change what the apply chain does (see test_crlf_and_final_newline...).
        "crlf": PATCH.replace("\n", "\r\n"),
        "no final newline": PATCH.rstrip("\n"),
        "no newline marker": PATCH + "\\ No newline at end of file\n",
        # Beyond the hunk's counts git apply skips it, but it reads like a hunk line: kept.
        "added line beyond the counts": PATCH + "+extra\n",
        "signature after": PATCH + "-- \n2.39.2\n",
    }
    for name, text in variants.items():
        assert patch_key(text) != key, name


def test_empty_and_unreadable_patches() -> None:
    assert patch_key(None) == patch_key("") == patch_key("  \n") == ""
    broken = PATCH.replace("@@ -1,3 +1,5 @@", "@@ -1,9 +1,9 @@")  # counts beyond its lines
    assert patch_key(broken) and patch_key(broken) != patch_key(PATCH)
    # Unreadable: only the same bytes share a key.
    assert patch_key(broken.replace("index 757cb2797", "index 0000000")) != patch_key(broken)
    assert patch_key(broken.replace("\n", "\r\n")) != patch_key(broken)
    assert patch_key(broken) == patch_key(str(broken))


def test_hunk_order_is_part_of_the_key() -> None:
    two = PATCH + "@@ -10,2 +11,2 @@\n a = 1\n-b = 2\n+b = 3\n"
    first, second = two.split("@@ -1,3")[0], "@@ -1,3" + two.split("@@ -1,3")[1]
    hunk1, hunk2 = second.split("@@ -10,2")
    swapped = first + "@@ -10,2" + hunk2 + hunk1
    assert patch_key(swapped) != patch_key(two)


@pytest.mark.skipif(not PREDS.is_dir(), reason="../shared/data/swebench/predictions is not here")
def test_real_predictions_a_leading_newline_is_the_same_patch() -> None:
    def patch(stem: str, iid: str) -> str:
        for line in (PREDS / f"{stem}.lite.all_preds.jsonl").read_text().splitlines():
            row = json.loads(line)
            if row["instance_id"] == iid:
                return str(row["model_patch"])
        raise AssertionError(iid)

    moatless = patch("moatless_gpt4o_20240609", "pytest-dev__pytest-5227")
    sweagent = patch("sweagent_gpt4_acr_rerun1", "pytest-dev__pytest-5227")
    assert moatless != sweagent and patch_key(moatless) == patch_key(sweagent)
    coder = patch("20240604_CodeR", "pytest-dev__pytest-5227")
    assert patch_key(coder) != patch_key(moatless)


TWO_FILES = """diff --git a/f.txt b/f.txt
index d68dd40..a7bc997 100644
--- a/f.txt
+++ b/f.txt
@@ -1,4 +1,4 @@
 a
-b
+B
 c
 d
diff --git a/g.txt b/g.txt
new file mode 100644
index 0000000..3e75765
--- /dev/null
+++ b/g.txt
@@ -0,0 +1 @@
+new
"""


def _apply(tmp: Path, patch: str) -> tuple[str | None, dict[str, bytes]]:
    """The apply chain's verdict and the tree it leaves, on a fresh two-file repository."""
    import shutil
    import subprocess

    from harness.evaluation import applied_method, apply_script

    repo = tmp / "repo"
    shutil.rmtree(repo, ignore_errors=True)
    repo.mkdir()
    (repo / "f.txt").write_text("a\nb\nc\nd\n")
    git = ["git", "-c", "user.email=t@t", "-c", "user.name=t"]
    for cmd in (["init", "-q"], ["add", "."], ["commit", "-qm", "base"]):
        subprocess.run([*git, *cmd], cwd=repo, check=True)
    (tmp / "p.diff").write_bytes(patch.encode())
    out = subprocess.run(
        ["sh", "-c", apply_script(str(tmp / "p.diff"))], cwd=repo, capture_output=True, text=True
    )
    tree = {
        str(p.relative_to(repo)): p.read_bytes()
        for p in repo.rglob("*")
        if p.is_file() and ".git" not in p.parts
    }
    return applied_method(out.stdout, patch), tree


def test_the_apply_chain_agrees_with_the_key(tmp_path: Path) -> None:
    import shutil

    if not (shutil.which("git") and shutil.which("patch")):
        pytest.skip("needs git and patch on this machine")
    method, tree = _apply(tmp_path, TWO_FILES)
    assert method == "git apply --verbose" and tree["g.txt"] == b"new\n"
    same = {
        "leading newline": "\n" + TWO_FILES,
        "blank lines after": TWO_FILES + "\n\n\n",
        "index lines": TWO_FILES.replace("index d68dd40..a7bc997", "index 1234567..89abcde"),
        "commit message before": "commit abc\nAuthor: x\n\n    fix\n\n" + TWO_FILES,
        "text between files": TWO_FILES.replace("diff --git a/g.txt", "between\ndiff --git a/g.txt"),
        "hunk heading": TWO_FILES.replace("@@ -1,4 +1,4 @@", "@@ -1,4 +1,4 @@ def f():"),
    }
    for name, text in same.items():
        assert patch_key(text) == patch_key(TWO_FILES), name
        assert _apply(tmp_path, text) == (method, tree), name
    # What the key keeps although it looks like noise: the chain does not apply these.
    for name, text in {"crlf": TWO_FILES.replace("\n", "\r\n"), "no final newline": TWO_FILES[:-1]}.items():
        assert patch_key(text) != patch_key(TWO_FILES), name
        assert _apply(tmp_path, text)[0] is None, name
