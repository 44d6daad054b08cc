class ResolutionError(Exception):
    pass


class CycleError(ResolutionError):
    """Raised with the cycle as a list of names, first name repeated at the end."""

    def __init__(self, cycle):
        self.cycle = list(cycle)
        super().__init__("dependency cycle: " + " -> ".join(self.cycle))
