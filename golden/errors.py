"""The error every layer of tessera raises for bad input."""


class TesseraError(ValueError):
    """Bad input: a wrong dtype or shape, a corrupt model file, a matrix that does not fit.

    The message is one line that names the problem; the command-line tool prints it as is and
    exits non-zero. It subclasses :class:`ValueError` so that library users can catch either.
    """


def check_int(value, name, low, high):
    """Return ``value`` as an int if it is an integer in ``[low, high]``; else raise
    :class:`TesseraError` naming ``name``, the range and the value."""
    import numpy as np

    if isinstance(value, bool) or not isinstance(value, (int, np.integer)):
        raise TesseraError(f"{name} must be an integer, not {value!r}")
    if not low <= value <= high:
        raise TesseraError(f"{name} must be in [{low}, {high}], not {value}")
    return int(value)
