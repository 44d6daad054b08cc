"""The public Config object."""

from iniconf.interpolation import expand
from iniconf.parser import DEFAULT_SECTION, normalize, parse

TRUE = {"1", "yes", "true", "on"}
FALSE = {"0", "no", "false", "off"}


class Config:
    def __init__(self, sections):
        self._sections = sections

    def sections(self):
        return [s for s in self._sections if s != DEFAULT_SECTION]

    def has_option(self, section, key):
        values = self._sections.get(normalize(section), {})
        return normalize(key) in values or normalize(key) in self._sections[DEFAULT_SECTION]

    def get(self, section, key, *, raw=False):
        section, key = normalize(section), normalize(key)
        if section not in self._sections:
            raise KeyError(f"no section {section!r}")
        values = self._sections[section]
        value = values[key] if key in values else self._sections[DEFAULT_SECTION][key]
        return value if raw else expand(self._sections, section, value)

    def getint(self, section, key):
        return int(self.get(section, key))

    def getbool(self, section, key):
        value = self.get(section, key).lower()
        if value in TRUE:
            return True
        if value in FALSE:
            return False
        raise ValueError(f"not a boolean: {value!r}")


def loads(text):
    return Config(parse(text))
