"""Sandboxes on the nodes of a Ray cluster; orchestration stays on the driver.

Imported only when ``--cluster`` is given (``import harness`` never imports Ray). Every node with a
Docker engine advertises ``sandbox_slots`` and runs a host actor (:mod:`harness.cluster._host`) that
starts sandboxes there; :class:`RaySandbox` is the driver's :class:`harness.sandbox.Sandbox` for one of
them. Placement is Ray's resource scheduling (one slot per sandbox); a node lost during a call is a
:class:`harness.errors.SandboxError`. Model calls, budgets, caches and the results store stay on the
driver. See ``docs/cluster.md``.
"""

from __future__ import annotations

from harness.cluster._cluster import NAMESPACE, Cluster, connect, run_on_cluster
from harness.cluster._host import SLOTS, SandboxHost, SandboxSpec
from harness.cluster._images import ImageRecipe, RecipeImages, Registry
from harness.cluster._sandbox import RaySandbox

__all__ = [
    "NAMESPACE",
    "SLOTS",
    "Cluster",
    "ImageRecipe",
    "RaySandbox",
    "RecipeImages",
    "Registry",
    "SandboxHost",
    "SandboxSpec",
    "connect",
    "run_on_cluster",
]
