"""The installed package: one import namespace, ``tessera.*``, and nothing at the top level.

``pip install .`` into a fresh virtual environment, outside the checkout, must give
``import tessera.hw.sparse`` and a working ``tessera`` command, and must not put ``hw``, ``golden``,
``sim`` or ``boards`` into site-packages, where they would collide with other packages.
"""

import re
import subprocess
import sysconfig
import venv
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
ROOMS = ("hw", "golden", "sim", "boards")


@pytest.mark.slow
def test_fresh_install_has_one_namespace(tmp_path):
    env_dir = tmp_path / "venv"
    venv.create(env_dir, with_pip=True)
    python = env_dir / "bin" / "python"
    site = Path(subprocess.check_output(
        [python, "-c", "import sysconfig; print(sysconfig.get_paths()['purelib'])"],
        text=True).strip())
    # The dependencies come from the project's environment (no download of Amaranth, NumPy...);
    # a plain path entry, so that the editable install living there is not activated.
    (site / "deps.pth").write_text(sysconfig.get_paths()["purelib"] + "\n")

    install = subprocess.run([python, "-m", "pip", "install", "--quiet", "--no-deps", str(ROOT)],
                             cwd=tmp_path, capture_output=True, text=True)
    assert install.returncode == 0, install.stderr[-2000:]

    installed = {path.name for path in site.iterdir()}
    assert "tessera" in installed
    assert not installed & set(ROOMS), f"top-level packages installed: {installed & set(ROOMS)}"
    for room in ROOMS:
        assert (site / "tessera" / room / "__init__.py").is_file()

    probe = ("import importlib.util, tessera.hw.sparse, tessera.golden.quant, tessera.boards.synth;"
             f"print([importlib.util.find_spec(n) is None for n in {ROOMS!r}]);"
             "print(tessera.hw.sparse.__file__)")
    out = subprocess.run([python, "-c", probe], cwd=tmp_path, capture_output=True, text=True)
    assert out.returncode == 0, out.stderr[-2000:]
    lines = out.stdout.splitlines()
    assert lines[0] == "[True, True, True, True]"
    assert Path(lines[1]).is_relative_to(site), "imported from the checkout, not the install"

    cli = subprocess.run([env_dir / "bin" / "tessera", "--help"], cwd=tmp_path,
                         capture_output=True, text=True)
    assert cli.returncode == 0, cli.stderr[-2000:]
    assert cli.stdout.startswith("usage: tessera")


def test_sources_import_only_the_namespace():
    """No module of the project imports a room by its bare name (``from hw...``)."""
    bare = re.compile(rf"^\s*(from|import) ({'|'.join(ROOMS)})\b")
    offenders = []
    for room in (*ROOMS, "tests"):
        for path in sorted((ROOT / room).rglob("*.py")):
            for number, line in enumerate(path.read_text().splitlines(), 1):
                if bare.match(line):
                    offenders.append(f"{path.relative_to(ROOT)}:{number}: {line.strip()}")
    assert not offenders, "\n".join(offenders)


def test_every_subpackage_is_listed():
    """A new folder with an ``__init__.py`` must be in pyproject's ``packages``, or
    ``pip install .`` leaves it out (the editable install would hide that)."""
    import tomllib

    listed = set(tomllib.loads((ROOT / "pyproject.toml").read_text())["tool"]["setuptools"]
                 ["packages"])
    found = {"tessera." + ".".join(init.parent.relative_to(ROOT).parts)
             for room in ROOMS for init in (ROOT / room).rglob("__init__.py")}
    assert found == listed, f"missing: {sorted(found - listed)}, stale: {sorted(listed - found)}"
