"""Patches the docker tests hand to the harness (test helper, not a test)."""

from __future__ import annotations


def not_applying(rel: str) -> str:
    """A well-formed diff of ``rel`` whose one hunk matches no line of the file: it never applies."""
    return (
        f"diff --git a/{rel} b/{rel}\n--- a/{rel}\n+++ b/{rel}\n@@ -1,3 +1,3 @@\n"
        "-this line is not in the file\n+neither is this one\n nor this\n"
    )
