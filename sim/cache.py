"""The build cache: one per user, verified on use, healed when damaged, safe for many processes.

Where it is: :func:`tessera.golden.cachedir.cache_root` (``$TESSERA_BUILD_DIR``, else the XDG
cache folder ``~/.cache/tessera``). What is in it: ``sim/<design>-<key>/`` per design (its
``top.v`` and one build folder per simulator), ``synth/`` and ``models/``.

How an entry is trusted: every entry is written under an exclusive lock and finished by a
*stamp*, a small JSON file written atomically after everything else, holding the SHA-256 of the
entry's files. Using an entry re-hashes those files (milliseconds: a ``top.v`` and one simulator
binary) and compares; an entry without a stamp, with a stamp that does not parse, or whose files
differ from it (cut, gone, one byte flipped) is rebuilt from scratch, never used. Runs hold a
shared lock on their build folder, so an entry is never rebuilt or cleared under a running
simulation. A lock is taken on a file whose inode is checked after locking, so that clearing the
cache while another process waits cannot give two processes the same lock.
"""

import contextlib
import errno
import fcntl
import hashlib
import json
import os
import shutil
import tempfile
from pathlib import Path

from tessera.golden.cachedir import cache_root

__all__ = ["cache_root", "clear", "digest", "locked", "read_stamp", "usage", "verified",
           "write_atomically", "write_stamp"]

LOCK = ".lock"


def digest(path):
    """SHA-256 (hex) of the file ``path``, or None when it cannot be read."""
    sha = hashlib.sha256()
    try:
        with open(path, "rb") as f:
            while chunk := f.read(1 << 20):
                sha.update(chunk)
    except OSError:
        return None
    return sha.hexdigest()


@contextlib.contextmanager
def locked(folder, *, shared=False, blocking=True):
    """Hold a lock on ``folder`` (created if missing); exclusive unless ``shared``.

    With ``blocking=False`` raises :class:`BlockingIOError` when another process holds it.
    """
    folder = Path(folder)
    while True:
        folder.mkdir(parents=True, exist_ok=True)
        try:
            fd = os.open(folder / LOCK, os.O_RDWR | os.O_CREAT, 0o666)
        except FileNotFoundError:   # the folder was removed between mkdir and open: again
            continue
        try:
            flags = (fcntl.LOCK_SH if shared else fcntl.LOCK_EX) | \
                (0 if blocking else fcntl.LOCK_NB)
            fcntl.flock(fd, flags)
            try:
                same = os.stat(folder / LOCK).st_ino == os.fstat(fd).st_ino
            except FileNotFoundError:
                same = False
            if same:
                break
        except BaseException:
            os.close(fd)
            raise
        os.close(fd)        # the folder was cleared while we waited: lock the new one
    try:
        yield
    finally:
        os.close(fd)        # closing releases the lock


def write_atomically(path, text):
    """Write ``text`` to ``path`` through a temporary file that replaces it (mode 0666 - umask)."""
    path = Path(path)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    try:
        with os.fdopen(fd, "w") as f:
            f.write(text)
        umask = os.umask(0)
        os.umask(umask)
        os.chmod(tmp, 0o666 & ~umask)
        os.replace(tmp, path)
    finally:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(tmp)


def write_stamp(stamp, files, **extra):
    """Atomically write ``stamp`` recording the digest of each path in ``files``."""
    record = {"files": {Path(p).name: digest(p) for p in files}, **extra}
    write_atomically(stamp, json.dumps(record))


def read_stamp(stamp):
    """The record of a stamp written by :func:`write_stamp`, or None (missing, old or damaged)."""
    try:
        record = json.loads(Path(stamp).read_text())
    except (OSError, ValueError):
        return None
    if not isinstance(record, dict) or not isinstance(record.get("files"), dict):
        return None
    return record


def verified(stamp, folder, **extra):
    """Whether ``stamp`` exists, matches ``extra`` and every file it records is intact."""
    record = read_stamp(stamp)
    if record is None or not record["files"]:
        return False
    if any(record.get(key) != value for key, value in extra.items()):
        return False
    return all(isinstance(want, str) and digest(Path(folder) / name) == want
               for name, want in record["files"].items())


def empty_folder(folder, keep=(LOCK,)):
    """Remove everything in ``folder`` but the names in ``keep`` (call it under the lock)."""
    for child in Path(folder).iterdir():
        if child.name in keep:
            continue
        if child.is_dir() and not child.is_symlink():
            shutil.rmtree(child, ignore_errors=True)
        else:
            with contextlib.suppress(FileNotFoundError):
                child.unlink()


def _size(path):
    total = 0
    for dirpath, _, filenames in os.walk(path):
        for name in filenames:
            with contextlib.suppress(OSError):
                total += os.lstat(os.path.join(dirpath, name)).st_size
    return total


def usage(root=None):
    """Return ``{kind: (entries, bytes)}`` for the cache's folders (``sim``, ``synth``...)."""
    root = Path(root or cache_root())
    if not root.is_dir():
        return {}
    result = {}
    for kind in sorted(p for p in root.iterdir() if p.is_dir()):
        entries = sum(1 for _ in kind.iterdir())
        result[kind.name] = (entries, _size(kind))
    return result


def _entry_locks(entry):
    """The folders of ``entry`` that carry a lock (the entry's and its build folders')."""
    return [entry] + [p for p in sorted(entry.iterdir()) if p.is_dir() and (p / LOCK).exists()]


def clear(root=None):
    """Remove the cache's entries that no process is using; return ``(removed, busy)`` counts.

    An entry is removed only while this process holds the exclusive locks of all its folders
    (without waiting): an entry in use by a build or a simulation is left alone and counted as
    busy.
    """
    root = Path(root or cache_root())
    removed = busy = 0
    if not root.is_dir():
        return removed, busy
    for kind in sorted(p for p in root.iterdir() if p.is_dir()):
        for entry in sorted(kind.iterdir()):
            if not entry.is_dir() or entry.is_symlink():
                with contextlib.suppress(FileNotFoundError):
                    entry.unlink()
                    removed += 1
                continue
            try:
                with contextlib.ExitStack() as stack:
                    for folder in _entry_locks(entry):
                        stack.enter_context(locked(folder, blocking=False))
                    shutil.rmtree(entry, ignore_errors=True)
                removed += 1
            except BlockingIOError:
                busy += 1
            except OSError as error:
                if error.errno not in (errno.EAGAIN, errno.EACCES):
                    raise
                busy += 1
        with contextlib.suppress(OSError):
            kind.rmdir()        # only when empty
    return removed, busy
