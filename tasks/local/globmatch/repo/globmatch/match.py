import re
from functools import lru_cache

from globmatch.translate import translate


class Pattern:
    """A glob. Without a '/' it matches the last path segment anywhere (like .gitignore);
    with one, it is anchored at the root. A trailing '/' matches directories only."""

    def __init__(self, glob):
        self.glob = glob
        self.dir_only = glob.endswith("/")
        body = glob.rstrip("/")
        anchored = "/" in body
        body = body.lstrip("/")
        prefix = "" if anchored else "(?:.*/)?"
        self.regex = re.compile(prefix + translate(body) + r"\Z")

    def matches(self, path, is_dir=False):
        if self.dir_only and not is_dir:
            return False
        return self.regex.match(path.strip("/")) is not None


@lru_cache(maxsize=256)
def _compiled(glob):
    return Pattern(glob)


def match(glob, path, is_dir=False):
    return _compiled(glob).matches(path, is_dir)
