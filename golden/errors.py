"""The errors every layer of tessera raises for bad input, and the checks that raise them.

One policy across ``golden/``, ``hw/``, ``sim/`` and ``boards/``: bad input raises
:class:`TesseraError` (a :class:`ValueError`) with a one-line message of the shape
"*thing* must be *constraint*, not *value*"; a value of the wrong type raises
:class:`TesseraTypeError`, which is both a :class:`TesseraError` (so the command-line tool prints it
as one line) and a :class:`TypeError` (Amaranth's convention for a parameter of the wrong type).
"""

__all__ = ["TesseraError", "TesseraTypeError", "check_choice", "check_int", "check_int_array"]


class TesseraError(ValueError):
    """Bad input: a wrong dtype or shape, a corrupt model file, a matrix that does not fit.

    The message is one line that names the problem; the command-line tool prints it as is and
    exits non-zero. It subclasses :class:`ValueError` so that library users can catch either.
    """


class TesseraTypeError(TesseraError, TypeError):
    """Bad input of the wrong type (a float where an integer belongs, say)."""


def _bounds(low, high):
    if high is None:
        return f"at least {low}"
    if low is None:
        return f"at most {high}"
    return f"between {low} and {high}"


def _values(low, high):
    words = _bounds(low, high)
    return words if low is not None and high is not None else f"of {words}"


def check_int(value, name, low, high):
    """Return ``value`` as an :class:`int` if it is an integer with ``low <= value <= high``.

    NumPy integers are accepted; :class:`bool` is refused. ``high`` (or ``low``) may be None
    for an open side; the message then says "at least ``low``" (or "at most ``high``").

    Raises
    ------
    TesseraTypeError
        If ``value`` is not an integer: "``name`` must be an integer, not ``value``".
    TesseraError
        If it is out of range: "``name`` must be between ``low`` and ``high``, not ``value``".
    """
    import numpy as np

    if isinstance(value, bool) or not isinstance(value, (int, np.integer)):
        raise TesseraTypeError(f"{name} must be an integer, not {value!r}")
    if (low is not None and value < low) or (high is not None and value > high):
        raise TesseraError(f"{name} must be {_bounds(low, high)}, not {value}")
    return int(value)


def check_choice(value, name, choices):
    """Return ``value`` if it is one of ``choices``.

    Raises
    ------
    TesseraError
        Naming the choices: "``name`` must be one of 'a', 'b', not ``value``".
    """
    if value not in choices:
        options = ", ".join(repr(c) for c in choices)
        raise TesseraError(f"{name} must be one of {options}, not {value!r}")
    return value


def check_int_array(value, name, *, low=None, high=None, ndim=None, allow_bool=False):
    """Return ``value`` as an int64 array after checking its dtype, rank and range.

    The range is checked in the input's own dtype, before any conversion, so that a ``uint64``
    holding ``2**64 - 1`` is refused rather than wrapped to ``-1``.

    Parameters
    ----------
    value : array_like
    name : str
        What the message calls the array ("W", "x", "--bias").
    low, high : int or None
        Inclusive bounds; ``None`` leaves that side open (up to int64's range); the message
        then says "of at least ``low``" or "of at most ``high``".
    ndim : int or None
        The required number of dimensions.
    allow_bool : bool
        Accept a boolean array (as 0 and 1).

    Raises
    ------
    TesseraError
        "``name`` must be an integer array, not float64", "... must be 2-D, not 1-D with shape
        (3,)", or "... must hold values between ``low`` and ``high``, not ``v``".
    """
    import numpy as np

    array = np.asarray(value)
    if array.dtype == np.bool_:
        if not allow_bool:
            raise TesseraError(f"{name} must be an integer array, not bool")
    elif array.dtype.kind not in "iu":
        raise TesseraError(f"{name} must be an integer array, not {array.dtype}")
    if ndim is not None and array.ndim != ndim:
        raise TesseraError(f"{name} must be {ndim}-D, not {array.ndim}-D with shape {array.shape}")
    info = np.iinfo(np.int64)
    lo = int(info.min) if low is None else low
    hi = int(info.max) if high is None else high
    if array.size and array.dtype != np.bool_:
        # Python ints compare exactly with any NumPy integer: no cast, no wrap-around.
        smallest, largest = int(array.min()), int(array.max())
        if smallest < lo or largest > hi:
            bad = smallest if smallest < lo else largest
            # an open side is named only when the value breaks int64's own range there
            shown = _values(low if low is not None or bad > hi else lo,
                            high if high is not None or bad < lo else hi)
            raise TesseraError(f"{name} must hold values {shown}, not {bad}")
    return array.astype(np.int64, copy=False)
