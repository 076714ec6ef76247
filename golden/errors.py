"""The error every layer of tessera raises for bad input."""


class TesseraError(ValueError):
    """Bad input: a wrong dtype or shape, a corrupt model file, a matrix that does not fit.

    The message is one line that names the problem; the command-line tool prints it as is and
    exits non-zero. It subclasses :class:`ValueError` so that library users can catch either.
    """
