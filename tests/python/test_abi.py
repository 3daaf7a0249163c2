"""The ctypes structs of regionloss._lib against the C compiler's layout
of include/regionloss.h (abi_layout.c): every field, in order, at the same
offset, and the same sizes, the [yolo] head's structs included (and the
constants the binding repeats: RL_YOLO_MAX_HEADS, the norms a head takes, the box
losses).  A field added to the header and not to _lib.py
fails here."""
import ctypes
import os
import subprocess

import pytest

from regionloss import _lib

STRUCTS = {name: getattr(_lib, name) for name in
           ("rl_config", "rl_counts", "rl_box", "rl_batch", "rl_darknet_stats", "rl_result",
            "rl_yolo_head", "rl_yolo_config", "rl_yolo_batch")}


def c_layout():
    exe = os.environ.get("REGIONLOSS_ABI_LAYOUT")
    if not exe:
        pytest.skip("REGIONLOSS_ABI_LAYOUT is not set (meson test sets it to abi_layout)")
    out = subprocess.run([exe], check=True, capture_output=True, text=True).stdout
    layout = {}
    for line in out.splitlines():
        struct, field, value = line.split()
        layout.setdefault(struct, []).append((field, int(value)))
    return layout


def test_every_struct_matches_the_header():
    layout = c_layout()
    constants = layout.pop("constant")
    assert set(layout) == set(STRUCTS)
    for name, cls in STRUCTS.items():
        c_fields = layout[name]
        assert c_fields[0] == ("-", ctypes.sizeof(cls)), f"sizeof({name})"
        py_fields = [(f[0], getattr(cls, f[0]).offset) for f in cls._fields_]
        assert py_fields == c_fields[1:], name


def test_box_dtype_is_rl_box():
    import regionloss
    layout = dict(c_layout()["rl_box"])
    assert regionloss.BOX_DTYPE.itemsize == layout["-"]
    for field in ("cx", "cy", "w", "h", "cls"):
        assert regionloss.BOX_DTYPE.fields[field][1] == layout[field]


def test_yolo_constants_match_the_header():
    """The [yolo] head's limit and the norms it takes, repeated in _lib.py."""
    constants = dict(c_layout()["constant"])
    assert _lib.YOLO_MAX_HEADS == constants["RL_YOLO_MAX_HEADS"]
    assert _lib.YOLO_NORMS == {"sum": constants["RL_NORM_SUM"],
                               "images": constants["RL_NORM_IMAGES"]}
    assert _lib.YOLO_FLAVOURS == {"pjreddie": constants["RL_YOLO_FLAVOUR_PJREDDIE"],
                                  "alexeyab": constants["RL_YOLO_FLAVOUR_ALEXEYAB"]}
    assert {k: _lib.NORMS[k] for k in _lib.YOLO_NORMS} == _lib.YOLO_NORMS


def test_box_losses_match_the_header():
    """box_loss= names, mapped to rl_box_loss's values."""
    constants = dict(c_layout()["constant"])
    assert _lib.BOX_LOSSES == {k: constants["RL_BOX_" + k.upper()] for k in _lib.BOX_LOSSES}
    assert sorted(_lib.BOX_LOSSES.values()) == list(range(len(_lib.BOX_LOSSES)))


def test_flavour_constants_match_the_header():
    constants = dict(c_layout()["constant"])
    assert _lib.FLAVOURS == {"pjreddie": constants["RL_FLAVOUR_PJREDDIE"],
                             "alexeyab": constants["RL_FLAVOUR_ALEXEYAB"]}
