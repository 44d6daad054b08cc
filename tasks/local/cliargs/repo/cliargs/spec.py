from dataclasses import dataclass


@dataclass
class Option:
    name: str  # long name without dashes, e.g. "offset"
    short: str = ""  # one letter, e.g. "o"
    type: type = str
    default: object = None
    flag: bool = False  # a switch that takes no value
    multiple: bool = False  # may be given several times; collects a list
    help: str = ""

    @property
    def dest(self):
        return self.name.replace("-", "_")

    def convert(self, text):
        try:
            return self.type(text)
        except ValueError:
            raise ValueError(f"--{self.name}: invalid {self.type.__name__} value {text!r}") from None
