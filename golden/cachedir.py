"""Where tessera keeps what it can rebuild: one cache per user, shared by every working folder.

``$TESSERA_BUILD_DIR`` when set (``make`` sets it to the checkout's ``build/``), otherwise
``$XDG_CACHE_HOME/tessera``, otherwise ``~/.cache/tessera``, as tools of this kind do. Generated
Verilog and simulator builds go under ``sim/``, synthesis results under ``synth/``, trained float
models under ``models/`` (``$TESSERA_MODEL_CACHE`` moves those alone).
"""

import os
from pathlib import Path

__all__ = ["cache_root"]


def cache_root():
    """Return the (absolute) cache folder; it is not created here."""
    explicit = os.environ.get("TESSERA_BUILD_DIR")
    if explicit:
        return Path(explicit).expanduser().resolve()
    xdg = os.environ.get("XDG_CACHE_HOME")
    base = Path(xdg).expanduser() if xdg and Path(xdg).expanduser().is_absolute() else \
        Path.home() / ".cache"
    return (base / "tessera").resolve()
