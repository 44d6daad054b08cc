"""Ordered storage of entries, least recently used first."""

from collections import OrderedDict
from dataclasses import dataclass


@dataclass
class Entry:
    value: object
    expires_at: float  # float('inf') when the entry never expires


class LRUStore:
    def __init__(self):
        self._data = OrderedDict()

    def __len__(self):
        return len(self._data)

    def __contains__(self, key):
        return key in self._data

    def get(self, key):
        return self._data.get(key)

    def touch(self, key):
        """Mark `key` as most recently used."""
        self._data.move_to_end(key)

    def put(self, key, entry):
        self._data[key] = entry
        self._data.move_to_end(key)

    def delete(self, key):
        self._data.pop(key, None)

    def oldest(self):
        return next(iter(self._data))

    def items(self):
        return list(self._data.items())
