"""Installation order: every package after its dependencies."""


def install_order(deps):
    """deps: {name: [dependency names]}. Returns names, dependencies first, stable by name."""
    order = []
    seen = set()

    def visit(name):
        if name in seen:
            return
        seen.add(name)
        for dep in sorted(deps.get(name, ())):
            visit(dep)
        order.append(name)

    for name in sorted(deps):
        visit(name)
    return order
