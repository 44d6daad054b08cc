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
        "crlf": PATCH.replace("\n", "\r\n"),
        "index line": PATCH.replace("index 757cb2797..08670d2b2 100644", "index 1111111..2222222 100644"),
        "no index line": PATCH.replace("index 757cb2797..08670d2b2 100644\n", ""),
        "no final newline": PATCH.rstrip("\n"),
        "blank lines after": PATCH + "\n\n",
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
        "no newline marker": PATCH + "\\ No newline at end of file\n",
    }
    for name, text in variants.items():
        assert patch_key(text) != key, name


def test_empty_and_unreadable_patches() -> None:
    assert patch_key(None) == patch_key("") == patch_key("  \n") == ""
    broken = PATCH.replace("@@ -1,3 +1,5 @@", "@@ -1,9 +1,9 @@")  # counts beyond its lines
    assert patch_key(broken) and patch_key(broken) != patch_key(PATCH)
    # Unreadable: only the same bytes (modulo CRLF everywhere) share a key.
    assert patch_key(broken.replace("index 757cb2797", "index 0000000")) != patch_key(broken)
    assert patch_key(broken.replace("\n", "\r\n")) == patch_key(broken)


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
