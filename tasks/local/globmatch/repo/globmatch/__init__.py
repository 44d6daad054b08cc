"""globmatch: gitignore-style path globs (*, ?, [..], {a,b}, **) compiled to regular expressions."""

from globmatch.match import Pattern, match
from globmatch.select import select

__all__ = ["Pattern", "match", "select"]
