"""Sandboxes: isolated places to run untrusted code (the ``Sandbox`` seam and its Docker backend)."""

from __future__ import annotations

from harness.sandbox._types import ExecResult, ExecStatus, Sandbox, SandboxProfile
from harness.sandbox.images import base_image, build_images, python_image

__all__ = [
    "ExecResult",
    "ExecStatus",
    "Sandbox",
    "SandboxProfile",
    "base_image",
    "build_images",
    "python_image",
]
