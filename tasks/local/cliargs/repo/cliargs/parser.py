from types import SimpleNamespace

from cliargs.tokens import classify


class UsageError(Exception):
    pass


class Parser:
    def __init__(self, options, positional=()):
        self.options = list(options)
        self.positional = list(positional)
        self._long = {o.name: o for o in self.options}
        self._short = {o.short: o for o in self.options if o.short}

    def _store(self, ns, opt, text):
        if opt.flag:
            setattr(ns, opt.dest, True)
            return
        try:
            value = opt.convert(text)
        except ValueError as exc:
            raise UsageError(str(exc)) from None
        if opt.multiple:
            getattr(ns, opt.dest).append(value)
        else:
            setattr(ns, opt.dest, value)

    def parse(self, argv):
        ns = SimpleNamespace(**{o.dest: ([] if o.multiple else (False if o.flag else o.default)) for o in self.options})
        tokens = classify(argv)
        args = []
        i = 0
        while i < len(tokens):
            tok = tokens[i]
            i += 1
            if tok[0] == "value":
                args.append(tok[1])
            elif tok[0] == "long":
                opt = self._long.get(tok[1])
                if opt is None:
                    raise UsageError(f"unknown option --{tok[1]}")
                value = tok[2]
                if value is None and not opt.flag:
                    if i >= len(tokens) or tokens[i][0] != "value":
                        raise UsageError(f"--{opt.name} needs a value")
                    value = tokens[i][1]
                    i += 1
                self._store(ns, opt, value)
            elif tok[0] == "short":
                letters = tok[1]
                for n, letter in enumerate(letters):
                    opt = self._short.get(letter)
                    if opt is None:
                        raise UsageError(f"unknown option -{letter}")
                    if opt.flag:
                        self._store(ns, opt, None)
                        continue
                    value = letters[n + 1 :]
                    if not value:
                        if i >= len(tokens) or tokens[i][0] != "value":
                            raise UsageError(f"-{letter} needs a value")
                        value = tokens[i][1]
                        i += 1
                    self._store(ns, opt, value)
                    break
        if len(args) < len(self.positional):
            raise UsageError(f"missing argument {self.positional[len(args)]}")
        for name, value in zip(self.positional, args):
            setattr(ns, name, value)
        ns.rest = args[len(self.positional) :]
        return ns
