from globmatch.match import Pattern


def select(paths, include=("**",), exclude=()):
    """Paths matching any include glob and no exclude glob, in input order.

    A path ending in '/' is a directory; excluding a directory excludes everything below it.
    """
    inc = [Pattern(g) for g in include]
    exc = [Pattern(g) for g in exclude]
    out = []
    for path in paths:
        is_dir = path.endswith("/")
        parts = path.strip("/").split("/")
        parents = ["/".join(parts[:n]) for n in range(1, len(parts))]
        if any(p.matches(parent, is_dir=True) for p in exc for parent in parents):
            continue
        if any(p.matches(path, is_dir) for p in exc):
            continue
        if any(p.matches(path, is_dir) for p in inc):
            out.append(path)
    return out
