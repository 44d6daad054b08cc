from tinytpl.context import Context
from tinytpl.filters import apply
from tinytpl.nodes import For, If, Text, Var
from tinytpl.parser import TemplateSyntaxError, parse

__all__ = ["Template", "TemplateSyntaxError"]


class Template:
    def __init__(self, source):
        self.nodes = parse(source)

    def render(self, data=None, **kwargs):
        ctx = Context({**(data or {}), **kwargs})
        out = []
        _render(self.nodes, ctx, out)
        return "".join(out)


def _truthy(ctx, expr):
    if expr.startswith("not "):
        return not _truthy(ctx, expr[4:].strip())
    return bool(ctx.resolve(expr))


def _render(nodes, ctx, out):
    for node in nodes:
        if isinstance(node, Text):
            out.append(node.text)
        elif isinstance(node, Var):
            value = ctx.resolve(node.expr)
            for name in node.filters:
                value = apply(name, value)
            out.append(str(value))
        elif isinstance(node, If):
            _render(node.body if _truthy(ctx, node.expr) else node.orelse, ctx, out)
        elif isinstance(node, For):
            items = list(ctx.resolve(node.iterable) or [])
            if not items:
                _render(node.empty, ctx, out)
            for index, item in enumerate(items):
                ctx.set(node.name, item)
                ctx.set("loop", {"index": index + 1, "first": index == 0, "last": index == len(items) - 1})
                _render(node.body, ctx, out)
