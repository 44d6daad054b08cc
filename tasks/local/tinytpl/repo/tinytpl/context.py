class Context:
    """A stack of scopes: lookups go from the innermost scope outwards."""

    def __init__(self, data):
        self.scopes = [dict(data)]

    def push(self, **values):
        self.scopes.append(dict(values))

    def pop(self):
        if len(self.scopes) == 1:
            raise RuntimeError("cannot pop the global scope")
        self.scopes.pop()

    def set(self, name, value):
        self.scopes[-1][name] = value

    def resolve(self, expr):
        """Resolve 'a.b.c': dict keys first, then attributes."""
        head, *rest = expr.split(".")
        for scope in reversed(self.scopes):
            if head in scope:
                value = scope[head]
                break
        else:
            return ""
        for part in rest:
            if isinstance(value, dict) and part in value:
                value = value[part]
            else:
                value = getattr(value, part, "")
        return value
