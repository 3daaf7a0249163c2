"""Finding and loading the C library, and its ABI as ctypes declarations.

ctypes rather than a CPython extension (docs/python.md says why at length):
the package builds with nothing but the library, works with any CPython 3
that has numpy, and ctypes releases the GIL around every call into a CDLL.
The price is that the struct layouts below are written a second time; the
test tests/python/test_abi.py compares them with a C program compiled
against include/regionloss.h, so a change to the header cannot slip by.
"""

import ctypes
import os

_HERE = os.path.dirname(os.path.abspath(__file__))
# Installed (meson install or pip): the package's own copy of the library,
# built from the same objects as libregionloss.so (python/meson.build).
_PRIVATE = os.path.join(_HERE, "_libregionloss.so")
# The source tree after `bash scripts/demo.sh`, which builds build/.
_SOURCE_ROOT = os.path.dirname(os.path.dirname(_HERE))
_SOURCE_TREE = os.path.join(_SOURCE_ROOT, "build", "src", "libregionloss.so.1")


def _candidates():
    env = os.environ.get("REGIONLOSS_LIBRARY")
    if env:
        # An explicit choice is never second-guessed: if it is wrong, say so.
        return [("REGIONLOSS_LIBRARY", env)]
    found = []
    if os.path.exists(_PRIVATE):
        found.append(("the installed package", _PRIVATE))
    if os.path.exists(os.path.join(_SOURCE_ROOT, "meson.build")):
        found.append(("the source tree's build/", _SOURCE_TREE))
    return found


def _load():
    tried = []
    for what, path in _candidates():
        if not os.path.exists(path):
            tried.append(f"{path} ({what}): no such file")
            continue
        try:
            return ctypes.CDLL(path), path
        except OSError as e:
            tried.append(f"{path} ({what}): {e}")
    hint = ("build it from the repository with `bash scripts/demo.sh` (builds build/), "
            "install the package (meson install, or pip install .), "
            "or set REGIONLOSS_LIBRARY to a libregionloss.so")
    detail = "; ".join(tried) if tried else "no candidate exists"
    raise ImportError(f"regionloss: cannot load the C library ({detail}): {hint}")


lib, path = _load()

# ---- enums (include/regionloss.h) ---------------------------------------------
LAYOUTS = {"nchw": 0, "nhwc": 1}
MODES = {"spec": 0, "darknet": 1}
NORMS = {"batch": 0, "sum": 1, "images": 2}     # RL_NORM_COUNTS, _SUM, _IMAGES
GRAD_MODES = {"overwrite": 0, "accumulate": 1}
# rl_dtype: the element types of the predictions and the gradient
DTYPES = {"float32": 0, "bfloat16": 1, "float16": 2}
DTYPE_NAMES = {v: k for k, v in DTYPES.items()}

RL_OK = 0


# ---- structs ------------------------------------------------------------------
class rl_config(ctypes.Structure):
    _fields_ = [
        ("H", ctypes.c_int32), ("W", ctypes.c_int32),
        ("B", ctypes.c_int32), ("C", ctypes.c_int32),
        ("anchors", ctypes.c_void_p),
        ("layout", ctypes.c_int), ("mode", ctypes.c_int),
        ("lambda_coord", ctypes.c_double), ("lambda_class", ctypes.c_double),
        ("lambda_obj", ctypes.c_double), ("lambda_noobj", ctypes.c_double),
        ("thresh", ctypes.c_double),
        ("norm", ctypes.c_int), ("grad_mode", ctypes.c_int),
        ("variant", ctypes.c_char_p),
        ("threads", ctypes.c_int32),
        ("rescore", ctypes.c_int32), ("logistic_classes", ctypes.c_int32),
        # rl_dtype values, int16_t in what was padding before warmup_seen
        ("pred_dtype", ctypes.c_int16), ("grad_dtype", ctypes.c_int16),
        ("warmup_seen", ctypes.c_int64), ("warmup_scale", ctypes.c_double),
        # darknet mode: rl_flavour, and AlexeyAB's classfix and focal_loss
        ("flavour", ctypes.c_int32), ("classfix", ctypes.c_int32),
        ("focal_loss", ctypes.c_int32),
    ]


class rl_counts(ctypes.Structure):
    _fields_ = [("n_obj", ctypes.c_int64), ("n_noobj", ctypes.c_int64),
                ("n_conf", ctypes.c_int64), ("n_images", ctypes.c_int64)]


class rl_box(ctypes.Structure):
    _fields_ = [("cx", ctypes.c_float), ("cy", ctypes.c_float),
                ("w", ctypes.c_float), ("h", ctypes.c_float), ("cls", ctypes.c_int32)]


class rl_batch(ctypes.Structure):
    # Pointers as c_void_p: they are set from numpy's .ctypes.data addresses.
    _fields_ = [
        ("n_images", ctypes.c_int32),
        ("pred", ctypes.c_void_p),
        ("truths", ctypes.c_void_p),
        ("truth_offsets", ctypes.c_void_p),
        ("seen", ctypes.c_int64),
        ("global_counts", ctypes.POINTER(rl_counts)),
        ("workspace", ctypes.c_void_p),
        ("workspace_size", ctypes.c_size_t),
    ]


class rl_darknet_stats(ctypes.Structure):
    _fields_ = [("avg_iou", ctypes.c_double), ("recall", ctypes.c_double),
                ("recall75", ctypes.c_double), ("avg_cls", ctypes.c_double),
                ("avg_obj", ctypes.c_double), ("avg_anyobj", ctypes.c_double),
                ("count", ctypes.c_int64), ("cost", ctypes.c_double)]


class rl_result(ctypes.Structure):
    _fields_ = [
        ("loss", ctypes.c_double), ("coord", ctypes.c_double), ("cls", ctypes.c_double),
        ("obj", ctypes.c_double), ("noobj", ctypes.c_double), ("warmup", ctypes.c_double),
        ("n_obj", ctypes.c_int64), ("n_noobj", ctypes.c_int64), ("n_conf", ctypes.c_int64),
        ("n_truths", ctypes.c_int64),
        ("avg_iou", ctypes.c_double), ("recall50", ctypes.c_double),
        ("recall75", ctypes.c_double), ("avg_obj", ctypes.c_double),
        ("avg_noobj", ctypes.c_double), ("avg_cls", ctypes.c_double),
        ("sum_iou", ctypes.c_double), ("sum_obj", ctypes.c_double),
        ("sum_noobj", ctypes.c_double), ("sum_cls", ctypes.c_double),
        ("n_recall50", ctypes.c_int64), ("n_recall75", ctypes.c_int64),
        ("darknet", rl_darknet_stats),
        ("variant", ctypes.c_char_p),
    ]


# ---- the [yolo] head (the rl_yolo_* section of the header) --------------------------
YOLO_MAX_HEADS = 16   # RL_YOLO_MAX_HEADS
FLAVOURS = {"pjreddie": 0, "alexeyab": 1}  # rl_flavour: whose [region] darknet mode computes
YOLO_NORMS = {"sum": 1, "images": 2}   # RL_NORM_SUM, RL_NORM_IMAGES: what a head accepts
# rl_box_loss: the box term of a head's positives
BOX_LOSSES = {"mse": 0, "iou": 1, "giou": 2, "diou": 3, "ciou": 4}
YOLO_FLAVOURS = {"pjreddie": 0, "alexeyab": 1}   # rl_yolo_flavour


class rl_yolo_head(ctypes.Structure):
    _fields_ = [("H", ctypes.c_int32), ("W", ctypes.c_int32), ("B", ctypes.c_int32),
                ("mask", ctypes.c_void_p)]


class rl_yolo_config(ctypes.Structure):
    _fields_ = [
        ("n_heads", ctypes.c_int32),
        ("heads", ctypes.c_void_p),
        ("C", ctypes.c_int32),
        ("n_anchors", ctypes.c_int32),
        ("anchors", ctypes.c_void_p),
        ("net_w", ctypes.c_int32), ("net_h", ctypes.c_int32),
        ("layout", ctypes.c_int),
        ("pred_dtype", ctypes.c_int16), ("grad_dtype", ctypes.c_int16),
        ("lambda_coord", ctypes.c_double), ("lambda_class", ctypes.c_double),
        ("lambda_obj", ctypes.c_double), ("lambda_noobj", ctypes.c_double),
        ("ignore_thresh", ctypes.c_double), ("truth_thresh", ctypes.c_double),
        ("norm", ctypes.c_int), ("grad_mode", ctypes.c_int),
        ("variant", ctypes.c_char_p),
        ("threads", ctypes.c_int32),
        ("box_loss", ctypes.c_int32),        # rl_box_loss, in what was tail padding
        ("flavour", ctypes.c_int32),
        ("iou_loss", ctypes.c_int32), ("iou_thresh_kind", ctypes.c_int32),
        ("focal_loss", ctypes.c_int32), ("new_coords", ctypes.c_int32),
        ("objectness_smooth", ctypes.c_int32), ("max_boxes", ctypes.c_int32),
        ("show_details", ctypes.c_int32),
        ("iou_normalizer", ctypes.c_double), ("cls_normalizer", ctypes.c_double),
        ("obj_normalizer", ctypes.c_double), ("scale_x_y", ctypes.c_double),
        ("iou_thresh", ctypes.c_double), ("label_smooth_eps", ctypes.c_double),
        ("max_delta", ctypes.c_double),
        ("counters_per_class", ctypes.c_void_p),
        ("classes_multipliers", ctypes.c_void_p),
    ]


class rl_yolo_batch(ctypes.Structure):
    _fields_ = [
        ("n_images", ctypes.c_int32),
        ("preds", ctypes.c_void_p),          # const void *const *: n_heads addresses
        ("truths", ctypes.c_void_p),
        ("truth_offsets", ctypes.c_void_p),
        ("global_counts", ctypes.POINTER(rl_counts)),
        ("workspace", ctypes.c_void_p),
        ("workspace_size", ctypes.c_size_t),
    ]


# ---- functions ------------------------------------------------------------------
def _fn(name, restype, *argtypes):
    f = getattr(lib, name)
    f.restype = restype
    f.argtypes = list(argtypes)
    return f


_P = ctypes.POINTER
status_name = _fn("rl_status_name", ctypes.c_char_p, ctypes.c_int)
last_error = _fn("rl_last_error", ctypes.c_char_p)
version = _fn("rl_version", ctypes.c_char_p)
config_init = _fn("rl_config_init", None, _P(rl_config))
config_init_darknet = _fn("rl_config_init_darknet", None, _P(rl_config))
plan_create = _fn("rl_plan_create", ctypes.c_int, _P(rl_config), _P(ctypes.c_void_p))
plan_destroy = _fn("rl_plan_destroy", None, ctypes.c_void_p)
plan_variant = _fn("rl_plan_variant", ctypes.c_char_p, ctypes.c_void_p)
plan_tensor_size = _fn("rl_plan_tensor_size", ctypes.c_int, ctypes.c_void_p, ctypes.c_int32,
                       _P(ctypes.c_size_t))
workspace_size = _fn("rl_workspace_size", ctypes.c_int, ctypes.c_void_p, ctypes.c_int32,
                     ctypes.c_int64, _P(ctypes.c_size_t))
compute = _fn("rl_compute", ctypes.c_int, ctypes.c_void_p, _P(rl_batch), _P(rl_result),
              ctypes.c_void_p)
count = _fn("rl_count", ctypes.c_int, ctypes.c_void_p, _P(rl_batch), _P(rl_counts))
variant_list = _fn("rl_variant_list", _P(ctypes.c_char_p))
variant_check = _fn("rl_variant_check", ctypes.c_int, ctypes.c_char_p)
truths_from_darknet = _fn("rl_truths_from_darknet", ctypes.c_int, ctypes.c_void_p,
                          ctypes.c_int32, ctypes.c_int32, ctypes.c_int32, ctypes.c_void_p,
                          ctypes.c_void_p)
yolo_config_init = _fn("rl_yolo_config_init", None, _P(rl_yolo_config))
yolo_plan_create = _fn("rl_yolo_plan_create", ctypes.c_int, _P(rl_yolo_config),
                       _P(ctypes.c_void_p))
yolo_plan_destroy = _fn("rl_yolo_plan_destroy", None, ctypes.c_void_p)
yolo_plan_variant = _fn("rl_yolo_plan_variant", ctypes.c_char_p, ctypes.c_void_p)
yolo_tensor_size = _fn("rl_yolo_tensor_size", ctypes.c_int, ctypes.c_void_p, ctypes.c_int32,
                       ctypes.c_int32, _P(ctypes.c_size_t))
yolo_workspace_size = _fn("rl_yolo_workspace_size", ctypes.c_int, ctypes.c_void_p,
                          ctypes.c_int32, ctypes.c_int64, _P(ctypes.c_size_t))
# total, per_head (n_heads results) and grads (n_heads addresses, NULL ones skipped)
yolo_compute = _fn("rl_yolo_compute", ctypes.c_int, ctypes.c_void_p, _P(rl_yolo_batch),
                   _P(rl_result), ctypes.c_void_p, ctypes.c_void_p)
truths_from_rows = _fn("rl_truths_from_rows", ctypes.c_int, ctypes.c_void_p, ctypes.c_int64,
                       ctypes.c_int32, ctypes.c_void_p, ctypes.c_void_p)


class Error(Exception):
    """A call into the library failed.

    ``status`` is the status constant's name ("RL_ERR_BAD_TRUTH"), ``code``
    its number, and ``str(err)`` the library's message, which names what is
    wrong and where ("truth 3 of image 1: w = 0 is not in (0, 1]").  The
    library has written nothing when it fails."""

    def __init__(self, code, message):
        self.code = int(code)
        self.status = status_name(self.code).decode()
        self.message = message
        super().__init__(message)


def check(code):
    """Raise Error for a failed status.  rl_last_error() is per thread, and
    ctypes makes the call and this read on the same thread, so the message
    is the one of this call even while other threads compute."""
    if code != RL_OK:
        raise Error(code, last_error().decode(errors="replace"))


# ---- darknet's cfg files (include/regionloss_darknet.h) -----------------------------
DARKNET_REGION, DARKNET_YOLO = 0, 1   # rl_darknet_type
darknet_cfg_parse = _fn("rl_darknet_cfg_parse", ctypes.c_int, ctypes.c_char_p, ctypes.c_size_t,
                        ctypes.c_int32, _P(ctypes.c_void_p))
# the flavour argument: -1 (RL_DARKNET_CFG_AUTO, as darknet_cfg_parse), or FLAVOURS' values
DARKNET_CFG_AUTO = -1
darknet_cfg_parse_flavour = _fn("rl_darknet_cfg_parse_flavour", ctypes.c_int, ctypes.c_char_p,
                                ctypes.c_size_t, ctypes.c_int32, ctypes.c_int32,
                                _P(ctypes.c_void_p))
darknet_cfg_destroy = _fn("rl_darknet_cfg_destroy", None, ctypes.c_void_p)
darknet_cfg_type = _fn("rl_darknet_cfg_type", ctypes.c_int32, ctypes.c_void_p)
darknet_cfg_line = _fn("rl_darknet_cfg_line", ctypes.c_int32, ctypes.c_void_p)
darknet_cfg_region = _fn("rl_darknet_cfg_region", ctypes.c_int, ctypes.c_void_p, _P(rl_config))
darknet_cfg_yolo = _fn("rl_darknet_cfg_yolo", ctypes.c_int, ctypes.c_void_p, _P(rl_yolo_config),
                       _P(rl_yolo_head))
