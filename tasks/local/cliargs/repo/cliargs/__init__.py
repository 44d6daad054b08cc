"""cliargs: declare options, parse argv into a namespace, print help."""

from cliargs.parser import Parser, UsageError
from cliargs.spec import Option

__all__ = ["Option", "Parser", "UsageError"]
