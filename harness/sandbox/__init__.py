"""Sandboxes: isolated places to run untrusted code.

- :class:`Sandbox` (the seam) and :class:`CommandRunner` (its ``run``, which every narrower protocol of
  a stage extends), :class:`ExecResult`, :class:`SandboxProfile` (strict by default).
- :class:`DockerSandbox`: a container with a command server inside; :class:`SandboxPool` of warm ones.
- :class:`EvalContainer`: a root container of a task image for evaluation (:class:`EvalSandbox`: the
  part of a sandbox evaluation needs).
- :func:`gc`: remove containers a killed harness left behind (only harness-labelled ones).
- Images: :func:`python_image`, :func:`base_image`, :func:`build_images` (``harness sandbox build``).
- :mod:`harness.sandbox.conformance`: the checks every backend passes.

See ``docs/sandbox.md``.
"""

from __future__ import annotations

from harness.sandbox._cleanup import gc, resolve_run_id
from harness.sandbox._container import EvalContainer, EvalSandbox
from harness.sandbox._docker import DockerSandbox
from harness.sandbox._pool import SandboxPool
from harness.sandbox._types import CommandRunner, ExecResult, ExecStatus, Sandbox, SandboxProfile
from harness.sandbox.images import base_image, build_images, python_image

__all__ = [
    "CommandRunner",
    "DockerSandbox",
    "EvalContainer",
    "EvalSandbox",
    "ExecResult",
    "ExecStatus",
    "Sandbox",
    "SandboxPool",
    "SandboxProfile",
    "base_image",
    "build_images",
    "gc",
    "python_image",
    "resolve_run_id",
]
