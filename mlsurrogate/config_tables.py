"""TOML tables -> dataclasses with clear errors (training configs, DFT settings). Local."""
from dataclasses import fields

from .errors import InputError

__all__ = ["table_to_dataclass"]


def table_to_dataclass(cls, raw, where, convert=None):
    """``cls(**raw)`` for the TOML table ``[where]``; unknown keys and bad values raise InputError.

    convert : optional {key: function} applied to those keys' values first.
    """
    if not isinstance(raw, dict):
        raise InputError(f"[{where}] must be a table")
    known = {f.name for f in fields(cls)}
    unknown = sorted(set(raw) - known)
    if unknown:
        raise InputError(f"unknown key(s) in [{where}]: {', '.join(unknown)} (known: {', '.join(sorted(known))})")
    values = dict(raw)
    for key, fn in (convert or {}).items():
        if key in values:
            values[key] = fn(values[key])
    try:
        return cls(**values)
    except TypeError as exc:
        raise InputError(f"[{where}]: {exc}") from None
