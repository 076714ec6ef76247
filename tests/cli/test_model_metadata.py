"""`tessera inspect` on crafted model files: one line and exit 2, never a traceback."""

import json
import math
import zipfile

import numpy as np
import pytest
from tessera.golden.modelfile import save
from tessera.sim.cli import main

from tests.golden.test_modelfile import _model, _npy_header


def _crafted(tmp_path, name, change_meta=None, members=None):
    good = tmp_path / "good.npz"
    save(good, _model())
    with zipfile.ZipFile(good) as archive:
        content = {n: archive.read(n) for n in archive.namelist()}
    if change_meta is not None:
        with np.load(good) as f:
            meta = json.loads(f["meta"].tobytes())
        change_meta(meta)
        array = np.frombuffer(json.dumps(meta).encode(), dtype=np.uint8)
        with zipfile.ZipFile(tmp_path / "meta.npz", "w") as archive:
            with archive.open("meta.npy", "w") as f:
                np.lib.format.write_array(f, array)
        with zipfile.ZipFile(tmp_path / "meta.npz") as archive:
            content["meta.npy"] = archive.read("meta.npy")
    content.update(members or {})
    path = tmp_path / f"{name}.npz"
    with zipfile.ZipFile(path, "w") as archive:
        for member, data in content.items():
            archive.writestr(member, data)
    return path


CASES = [
    ("relu", lambda m: m["layers"][0].update(relu="no"), None,
     "field layers[0].'relu' must be true or false, not 'no'"),
    ("empty", lambda m: m.update(layers=[]), None, "field 'layers' is empty"),
    ("nan", lambda m: m["layers"][2].update(stride=math.nan), None,
     "field layers[2].'stride' must be an integer, not nan"),
    ("rows", lambda m: m["layers"][2].update(shape=[10**9, 64]), None,
     "field layers[2].'shape'[0] must be between 1 and 16777216, not 1000000000"),
    ("header", None, {"fc1.bias.npy": _npy_header((10**12,)) + b"\0" * 8},
     "array 'fc1.bias' declares 8000000000000 bytes but holds 8"),
]


@pytest.mark.parametrize(("name", "change", "members", "message"), CASES,
                         ids=[case[0] for case in CASES])
def test_inspect_refuses_crafted_metadata_in_one_line(capsys, tmp_path, name, change, members,
                                                      message):
    path = _crafted(tmp_path, name, change, members)
    code = main(["inspect", str(path)])
    err = capsys.readouterr().err
    assert code == 2, err
    assert err.startswith(f"tessera inspect: error: {path}") and message in err, err
    assert err.count("\n") == 1 and "Traceback" not in err
