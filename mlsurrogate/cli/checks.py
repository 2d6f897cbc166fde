"""Checks of command-line numbers where they enter: an explicit value is used as given or refused, never
replaced by a default. Local (every rank sees the same arguments, so every rank raises the same error).
"""
import math

from ..errors import InputError

__all__ = ["positive", "positive_int", "non_negative", "valence_map", "positive_grid"]


def positive(value, flag, unit=""):
    """``value`` if it is None or a finite number > 0; else InputError naming ``flag``."""
    if value is not None and not (math.isfinite(value) and value > 0):
        raise InputError(f"{flag} {value:g}: must be a positive finite number{' (' + unit + ')' if unit else ''}")
    return value


def non_negative(value, flag, unit=""):
    """``value`` if it is None or a finite number >= 0; else InputError."""
    if value is not None and not (math.isfinite(value) and value >= 0):
        raise InputError(f"{flag} {value:g}: must be a finite number >= 0{' (' + unit + ')' if unit else ''}")
    return value


def positive_int(value, flag):
    """``value`` if it is None or an integer >= 1; else InputError."""
    if value is not None and not value >= 1:
        raise InputError(f"{flag} {value}: must be a positive integer")
    return value


def positive_grid(grid, flag="--grid"):
    """``grid`` if None or three integers >= 1; else InputError."""
    if grid is not None and (len(grid) != 3 or min(grid) < 1):
        raise InputError(f"{flag} must be three positive integers, got {' '.join(map(str, grid))}")
    return grid


def valence_map(values, flag="--valence"):
    """{symbol: Z} with every Z finite and > 0 (electrons per atom); else InputError."""
    for symbol, z in values.items():
        if not (math.isfinite(z) and z > 0):
            raise InputError(f"{flag} {symbol}={z:g}: the valence charge must be a positive finite number")
    return values
