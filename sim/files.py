"""The files a ``tessera`` command reads and writes: one behaviour for every command.

Inputs
    :func:`load_array` reads a ``.npy`` array through :func:`tessera.golden.npyfile.read_npy`:
    its header is checked against the file's length and against the memories the array must fit
    before anything is allocated; empty, truncated, pickled and oversized files are refused in one
    line naming the argument and the file.

Outputs (``-o``)
    :func:`output_path` is called before the work starts and refuses a path that could not be
    written: an existing directory, a file that cannot be replaced, a missing folder whose nearest
    existing ancestor is not a writable directory. Missing folders are created when the output
    is written. The file is written at exactly the path given (no suffix is added), through a
    temporary file in the same folder that replaces it at the end (:func:`replacing`), so that an
    interrupted command never leaves half a file; the commands print ``wrote <path>`` with that
    same path.
"""

import contextlib
import os
import tempfile
from pathlib import Path

import numpy as np
from tessera.golden.errors import TesseraError
from tessera.golden.npyfile import read_npy

__all__ = ["load_array", "output_path", "replacing", "write_npy", "write_text"]


def load_array(path, name, *, max_elements=None):
    """Read the array argument ``name`` from the ``.npy`` file ``path`` (see the module)."""
    return read_npy(path, name, max_elements=max_elements)


def output_path(path, name="-o"):
    """Check that ``path`` can be written; return it as a :class:`~pathlib.Path`.

    Call it before the work starts. Nothing is created on disk.
    """
    if path is None:
        return None
    text = str(path)
    if not text or text.endswith(os.sep):
        raise TesseraError(f"{name}: {text!r} names a folder, not a file to write")
    path = Path(text)
    if path.is_dir():
        raise TesseraError(f"{name}: {text!r} is a directory, not a file to write")
    if path.exists() or path.is_symlink():
        if not os.access(path, os.W_OK) and not os.access(path.parent, os.W_OK):
            raise TesseraError(f"{name}: cannot write {text!r}: permission denied")
    ancestor = path.parent if str(path.parent) else Path(".")
    while not ancestor.exists():
        if ancestor.is_symlink():
            raise TesseraError(f"{name}: cannot write {text!r}: {str(ancestor)!r} is a broken "
                               f"link")
        ancestor = ancestor.parent
    if not ancestor.is_dir():
        raise TesseraError(f"{name}: cannot write {text!r}: {str(ancestor)!r} is a file, not a "
                           f"folder")
    if not os.access(ancestor, os.W_OK | os.X_OK):
        raise TesseraError(f"{name}: cannot write {text!r}: the folder {str(ancestor)!r} is not "
                           f"writable")
    return path


def output_folder(path, name="-o"):
    """Check that the folder ``path`` exists or can be created; return it (nothing created)."""
    text = str(path)
    folder = Path(text)
    if folder.exists() and not folder.is_dir():
        raise TesseraError(f"{name}: {text!r} is a file, not a folder")
    if not folder.exists():
        output_path(folder / "probe", name)
    elif not os.access(folder, os.W_OK | os.X_OK):
        raise TesseraError(f"{name}: the folder {text!r} is not writable")
    return folder


@contextlib.contextmanager
def replacing(path):
    """Yield a temporary path beside ``path``; on success it replaces ``path`` atomically.

    Missing folders are created. On an exception the temporary file is removed and ``path`` is
    left as it was.
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    os.close(fd)
    umask = os.umask(0)
    os.umask(umask)
    os.chmod(tmp, 0o666 & ~umask)  # as an ordinary new file, not mkstemp's 0600
    try:
        yield Path(tmp)
        os.replace(tmp, path)
    finally:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(tmp)


def write_npy(path, array):
    """Write ``array`` as ``.npy`` at exactly ``path`` (atomically; folders created)."""
    with replacing(path) as tmp, open(tmp, "wb") as f:
        np.save(f, np.asarray(array), allow_pickle=False)
    return Path(path)


def write_text(path, text):
    """Write ``text`` at exactly ``path`` (atomically; folders created)."""
    with replacing(path) as tmp:
        tmp.write_text(text)
    return Path(path)
