"""Validation of component parameters, with messages that say what was wrong."""


def check_int(value, name, low, high):
    """Return ``value`` if it is an integer with ``low <= value <= high``.

    Raises
    ------
    TypeError
        If ``value`` is not an ``int`` (``bool`` is refused too).
    ValueError
        If ``value`` is out of range. The message names the parameter and its range.
    """
    if not isinstance(value, int) or isinstance(value, bool):
        raise TypeError(f"{name} must be an integer, not {value!r}")
    if not low <= value <= high:
        raise ValueError(f"{name} must be between {low} and {high}, not {value}")
    return value


def check_choice(value, name, choices):
    """Return ``value`` if it is one of ``choices``; raise ``ValueError`` naming them otherwise."""
    if value not in choices:
        options = ", ".join(repr(c) for c in choices)
        raise ValueError(f"{name} must be one of {options}, not {value!r}")
    return value
