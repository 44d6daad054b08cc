def format_help(prog, parser):
    lines = [f"usage: {prog} [options] " + " ".join(p.upper() for p in parser.positional), "", "options:"]
    for o in parser.options:
        names = (f"-{o.short}, " if o.short else "    ") + f"--{o.name}"
        if not o.flag:
            names += f" {o.name.upper()}"
        default = f" (default: {o.default})" if o.default is not None else ""
        lines.append(f"  {names:<28}{o.help}{default}")
    return "\n".join(lines)
