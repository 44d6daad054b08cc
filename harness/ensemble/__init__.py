"""Ensembles of real systems on repository tasks without a model: votes, regression tests, B4.

``harness ensemble PREDS... --suite S --selector votes|regression|b4 --out DIR`` writes one prediction
per instance and the reason for each choice (docs/ensembles.md). Only what a user has before the hidden
tests run is used: the candidates' patches and the repository at base, with its own tests.
"""

from harness.ensemble._choice import Choice, Settings, choose_instance
from harness.ensemble._discover import (
    Discovery,
    GitRepoView,
    RepoView,
    discover_tests,
    is_test_file,
    module_of,
)
from harness.ensemble._ensemble import Ensemble, Summary, load_systems, resume_key
from harness.ensemble._runs import Run, Runner, RunSandbox, strict_sandbox, test_script
from harness.ensemble._select import SELECTORS, SelectorName, Verdict, by_b4, by_regression, by_votes, choose
from harness.ensemble._votes import SystemPatch, VoteGroup, vote_groups, vote_key, vote_winner

__all__ = [
    "SELECTORS",
    "Choice",
    "Discovery",
    "Ensemble",
    "GitRepoView",
    "RepoView",
    "Run",
    "RunSandbox",
    "Runner",
    "SelectorName",
    "Settings",
    "Summary",
    "SystemPatch",
    "Verdict",
    "VoteGroup",
    "by_b4",
    "by_regression",
    "by_votes",
    "choose",
    "choose_instance",
    "discover_tests",
    "is_test_file",
    "load_systems",
    "module_of",
    "resume_key",
    "strict_sandbox",
    "test_script",
    "vote_groups",
    "vote_key",
    "vote_winner",
]
