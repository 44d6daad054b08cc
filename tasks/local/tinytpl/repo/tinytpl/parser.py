from tinytpl.lexer import tokenize
from tinytpl.nodes import For, If, Text, Var


class TemplateSyntaxError(Exception):
    pass


def parse(source):
    nodes, end = _parse(list(tokenize(source)), 0, ())
    return nodes


def _parse(tokens, pos, stop):
    nodes = []
    while pos < len(tokens):
        kind, text = tokens[pos]
        if kind == "text":
            nodes.append(Text(text))
        elif kind == "var":
            expr, *filters = [p.strip() for p in text.split("|")]
            nodes.append(Var(expr, filters))
        else:
            word = text.split()[0]
            if word in stop:
                return nodes, pos
            if word == "for":
                _, name, in_, iterable = text.split()
                if in_ != "in":
                    raise TemplateSyntaxError(f"bad for tag: {text!r}")
                node = For(name, iterable)
                node.body, pos = _parse(tokens, pos + 1, ("empty", "endfor"))
                if tokens[pos][1] == "empty":
                    node.empty, pos = _parse(tokens, pos + 1, ("endfor",))
                nodes.append(node)
            elif word == "if":
                node = If(text[2:].strip())
                node.body, pos = _parse(tokens, pos + 1, ("else", "endif"))
                if tokens[pos][1] == "else":
                    node.orelse, pos = _parse(tokens, pos + 1, ("endif",))
                nodes.append(node)
            else:
                raise TemplateSyntaxError(f"unknown tag {word!r}")
        pos += 1
    if stop:
        raise TemplateSyntaxError(f"missing {stop[-1]}")
    return nodes, pos
