"""Reading NumPy ``.npy`` and ``.npz`` files that may be hostile: the one loader of tessera.

:func:`numpy.load` trusts a file: a header that declares 10**12 elements makes it allocate them
before it notices that the file holds a few bytes, an empty file ends in ``EOFError``, and the
errors it raises differ with the damage. :func:`read_npy` and :func:`read_npz` read the header
first (with :mod:`numpy.lib.format`, which parses it without the data), check what it declares

- against the file's real length (a file that ends early, or has bytes after its data, is refused),
- against a budget of elements or bytes given by the caller (the memories the data must fit), and
- against Python objects (an object dtype would need pickle, which tessera never loads),

and only then allocate the array, once, and read into it. Every failure is one
:class:`~tessera.golden.errors.TesseraError` naming the file (and the argument it was given as).
"""

import os
import zipfile
from pathlib import Path

import numpy as np
from numpy.lib import format as npformat

from .errors import TesseraError

__all__ = ["NPZ_MAX_BYTES", "read_npy", "read_npz"]

#: The largest total of array data :func:`read_npz` reads by default (256 MiB): far above any
#: tessera model file (a few hundred KiB), far below what would exhaust a machine.
NPZ_MAX_BYTES = 2**28

#: A ``.npy`` header is a few hundred bytes; NumPy's own default limit.
_MAX_HEADER = 10_000


def _label(name, path):
    return f"{name} ({str(path)!r})" if name else repr(str(path))


def _read_header(stream, what):
    """Parse a ``.npy`` header from ``stream``; return ``(shape, fortran_order, dtype)``."""
    try:
        version = npformat.read_magic(stream)
        if version == (1, 0):
            shape, fortran, dtype = npformat.read_array_header_1_0(stream, _MAX_HEADER)
        elif version == (2, 0):
            shape, fortran, dtype = npformat.read_array_header_2_0(stream, _MAX_HEADER)
        else:
            raise TesseraError(f"{what} is a .npy file of format version {version}, which "
                               f"tessera does not read (versions 1.0 and 2.0)")
    except TesseraError:
        raise
    except Exception:  # numpy's header parser raises many kinds (TokenError...)
        raise TesseraError(f"{what} is not a NumPy .npy array file (its header is missing or "
                           f"damaged)") from None
    if dtype.hasobject:
        raise TesseraError(f"{what} holds Python objects ({dtype}); tessera never loads pickled "
                           f"data: save a numeric array")
    if any(int(d) < 0 for d in shape):
        raise TesseraError(f"{what} declares a negative size in its shape {shape}")
    return shape, fortran, dtype


def _check_size(shape, dtype, available, what, max_elements, max_bytes):
    """Return the declared byte count after checking it against ``available`` and the budgets."""
    count = 1
    for d in shape:
        count *= int(d)
    nbytes = count * dtype.itemsize
    if available < nbytes:
        raise TesseraError(f"{what} ends early: its header declares {nbytes:,} bytes of data "
                           f"(shape {shape}, {dtype}) but the file holds {available:,}")
    if available > nbytes:
        raise TesseraError(f"{what} is damaged: {available - nbytes:,} bytes follow the "
                           f"{nbytes:,} bytes of data its header declares")
    if max_elements is not None and count > max_elements:
        raise TesseraError(f"{what} declares {count:,} elements (shape {shape}), more than the "
                           f"{max_elements:,} the configured memories hold")
    if max_bytes is not None and nbytes > max_bytes:
        raise TesseraError(f"{what} declares {nbytes:,} bytes of data (shape {shape}, {dtype}), "
                           f"more than the {max_bytes:,} tessera reads")
    return nbytes


def _read_data(stream, shape, fortran, dtype, nbytes, what):
    buffer = bytearray(nbytes)
    view = memoryview(buffer)
    got = 0
    while got < nbytes:
        n = stream.readinto(view[got:])
        if not n:
            raise TesseraError(f"{what} ends early: {got:,} of {nbytes:,} bytes of data read")
        got += n
    array = np.frombuffer(buffer, dtype=dtype) if nbytes else np.empty(0, dtype=dtype)
    return array.reshape(shape, order="F" if fortran else "C")


def _open(path, what):
    path = Path(path)
    try:
        if path.is_dir():
            raise TesseraError(f"{what} is a directory, not a file")
        return open(path, "rb")
    except FileNotFoundError:
        raise TesseraError(f"{what}: no such file") from None
    except PermissionError:
        raise TesseraError(f"{what} cannot be read: permission denied") from None
    except OSError as error:
        raise TesseraError(f"{what} cannot be read: {error.strerror or error}") from None


def read_npy(path, name=None, *, max_elements=None, max_bytes=None):
    """Read one array from a ``.npy`` file, checking what its header declares first.

    Parameters
    ----------
    path : path-like
    name : str, optional
        What the messages call the array ("A", "W", "--bias").
    max_elements, max_bytes : int, optional
        Refuse a file that declares more (before anything is allocated).

    Returns
    -------
    numpy.ndarray
        Writable, of the file's own dtype (nothing is converted).

    Raises
    ------
    TesseraError
        One line: no such file, empty, not a ``.npy`` file (an ``.npz`` archive says so), ends
        early, trailing bytes, Python objects, or more than the budget.
    """
    what = _label(name, path)
    with _open(path, what) as stream:
        try:
            size = os.fstat(stream.fileno()).st_size
            if size == 0:
                raise TesseraError(f"{what} is empty (0 bytes), not a NumPy .npy array file")
            start = stream.read(6)
            if start[:2] == b"PK":
                raise TesseraError(f"{what} is an .npz archive, not one .npy array")
            stream.seek(0)
            shape, fortran, dtype = _read_header(stream, what)
            nbytes = _check_size(shape, dtype, size - stream.tell(), what, max_elements,
                                 max_bytes)
            return _read_data(stream, shape, fortran, dtype, nbytes, what)
        except OSError as error:
            raise TesseraError(f"{what} cannot be read: {error.strerror or error}") from None


def read_npz(path, name=None, *, max_bytes=NPZ_MAX_BYTES):
    """Read every array of an ``.npz`` archive, checking each header against its member size.

    ``max_bytes`` bounds the total data of the archive's arrays; members are checked (and the
    budget charged) before anything is allocated for them. Returns a dict ``name -> array``
    (member names without ``.npy``). Raises :class:`TesseraError` (one line) on any damage.
    """
    what = _label(name, path)
    with _open(path, what) as stream:
        if os.fstat(stream.fileno()).st_size == 0:
            raise TesseraError(f"{what} is empty (0 bytes), not an .npz archive")
        try:
            archive = zipfile.ZipFile(stream)
        except (zipfile.BadZipFile, OSError, ValueError, EOFError):
            raise TesseraError(f"{what} is not a readable .npz archive (not a zip file, or "
                               f"truncated)") from None
        arrays, budget = {}, max_bytes
        with archive:
            for info in archive.infolist():
                key = info.filename[:-4] if info.filename.endswith(".npy") else info.filename
                member = f"{what}, array {key!r},"
                try:
                    with archive.open(info) as entry:
                        shape, fortran, dtype = _read_header(entry, member)
                        header = entry.tell()
                        nbytes = _check_size(shape, dtype, info.file_size - header, member,
                                             None, budget)
                        arrays[key] = _read_data(entry, shape, fortran, dtype, nbytes, member)
                except TesseraError:
                    raise
                except (zipfile.BadZipFile, OSError, ValueError, EOFError,
                        NotImplementedError, RuntimeError) as error:
                    raise TesseraError(f"{member} cannot be read (corrupt or truncated archive: "
                                       f"{type(error).__name__})") from None
                budget -= nbytes
    return arrays
