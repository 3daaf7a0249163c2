"""regionloss.Plan: a configured loss (rl_plan) and its compute call."""

import ctypes
import numbers
import sys
import threading

import numpy as np

from . import _lib
from ._result import Counts, Result
from ._targets import BOX_DTYPE, as_targets


def _shown(value):
    """value as a message shows it: a numpy scalar as the Python number it
    holds (numpy 2's repr would say np.float64(2.5))."""
    return value.item() if isinstance(value, np.generic) else value


def _choice(name, value, table):
    if not isinstance(value, str) or value not in table:
        raise ValueError(f"{name} = {value!r}; one of {', '.join(map(repr, table))} expected")
    return table[value]


def _number(name, value):
    if isinstance(value, bool) or not isinstance(value, numbers.Real):
        raise TypeError(f"{name} = {_shown(value)!r}; a number expected")
    return float(value)


def _integer(name, value):
    if isinstance(value, bool) or not isinstance(value, numbers.Integral):
        raise TypeError(f"{name} = {_shown(value)!r}; an integer expected")
    return int(value)


# Element types the library reads (rl_dtype), by numpy dtype.  bfloat16 has
# no numpy dtype of its own: a uint16 array of bit patterns is read as
# bfloat16 with dtype="bfloat16", and an ml_dtypes.bfloat16 array (a numpy
# dtype named "bfloat16", two bytes) is recognised by name.
_NP_CODES = {np.dtype(np.float32): 0, np.dtype(np.float16): 2}
_F32, _BF16, _F16 = (_lib.DTYPES[k] for k in ("float32", "bfloat16", "float16"))
_ITEMSIZE = {_F32: 4, _BF16: 2, _F16: 2}


def _torch_codes():
    """torch dtype -> rl_dtype, when torch is imported (never imported here:
    a tensor can only reach us once the caller has imported torch)."""
    global _TORCH_CODES
    if _TORCH_CODES is None:
        torch = sys.modules["torch"]
        _TORCH_CODES = {torch.float32: _F32, torch.bfloat16: _BF16, torch.float16: _F16}
    return _TORCH_CODES


_TORCH_CODES = None


def _is_tensor(x):
    torch = sys.modules.get("torch")
    return torch is not None and isinstance(x, torch.Tensor)


def _dtype_name(value):
    """dtype= of compute: None or a name of _lib.DTYPES (a numpy or torch
    dtype whose name is one is accepted too)."""
    if value is None:
        return None
    if isinstance(value, str):
        name = value
    elif str(value).startswith("torch."):
        name = str(value)[len("torch."):]
    else:
        try:
            name = np.dtype(value).name
        except TypeError:
            name = repr(value)
    if name not in _lib.DTYPES:
        raise ValueError(f"dtype = {value!r}; one of {', '.join(map(repr, _lib.DTYPES))} "
                         "expected")
    return name


class _Pred:
    """A validated prediction array or tensor: images, element type, address."""

    __slots__ = ("n", "code", "ptr", "obj", "torch")

    def __init__(self, n, code, ptr, obj, is_torch):
        self.n, self.code, self.ptr, self.obj, self.torch = n, code, ptr, obj, is_torch


def read_pred(pred, what, want, check_shape):
    """A prediction as the library will read it: a numpy array of float32,
    float16 or bfloat16 (uint16 bit patterns with want="bfloat16", or
    ml_dtypes' bfloat16), or a CPU torch tensor of one of those types;
    C-contiguous and aligned.  want: None or a dtype name the data must
    have; check_shape(shape, what) returns N or raises.  Nothing is copied.
    (Plan reads its one prediction and YoloPlan each head's with it.)"""
    if _is_tensor(pred):
        return _read_pred_tensor(pred, what, want, check_shape)
    if not isinstance(pred, np.ndarray):
        raise TypeError(f"{what}: a numpy.ndarray (float32, float16 or bfloat16) or a "
                        f"torch.Tensor expected, got {type(pred).__name__}")
    dt = pred.dtype
    code = _NP_CODES.get(dt)
    if code is None and dt.name == "bfloat16" and dt.itemsize == 2:
        code = _BF16  # ml_dtypes.bfloat16
    if code is None and dt == np.uint16 and want == "bfloat16":
        code = _BF16
    if code is None:
        if dt == np.uint16:
            raise TypeError(f"{what}: dtype uint16; bfloat16 bit patterns are read with "
                            "dtype='bfloat16' (numpy has no bfloat16 of its own)")
        raise TypeError(f"{what}: dtype {dt}; the library reads float32, float16 or "
                        "bfloat16 (convert with .astype(np.float32), a copy)")
    if want is not None and _lib.DTYPES[want] != code:
        raise TypeError(f"{what}: dtype {dt} is {_lib.DTYPE_NAMES[code]}, not the "
                        f"dtype={want!r} given")
    n = check_shape(pred.shape, what)
    if not pred.flags.c_contiguous:
        raise ValueError(f"{what}: not C-contiguous (strides {pred.strides}); the library "
                         "reads the array in place: pass np.ascontiguousarray(...)")
    if not pred.flags.aligned:
        raise ValueError(f"{what}: not aligned to its {dt} elements")
    return _Pred(n, code, pred.ctypes.data, pred, False)


def _read_pred_tensor(pred, what, want, check_shape):
    code = _torch_codes().get(pred.dtype)
    if code is None:
        raise TypeError(f"{what}: dtype {pred.dtype}; the library reads float32, bfloat16 "
                        "or float16: pass .float() (a copy)")
    if want is not None and _lib.DTYPES[want] != code:
        raise TypeError(f"{what}: dtype {pred.dtype}, not the dtype={want!r} given")
    if pred.device.type != "cpu":
        raise ValueError(f"{what}: on {pred.device}; the library computes on the CPU: "
                         "pass .cpu()")
    n = check_shape(pred.shape, what)
    if not pred.is_contiguous():
        raise ValueError(f"{what}: not contiguous (strides {pred.stride()}); the library "
                         "reads it in place: pass .contiguous()")
    ptr = pred.data_ptr()
    if ptr % _ITEMSIZE[code]:
        raise ValueError(f"{what}: data at {ptr:#x} is not aligned to {pred.dtype}; "
                         "pass .clone()")
    return _Pred(n, code, ptr, pred, True)


def new_grad(p, grad_code, zero):
    """A gradient for prediction p (a _Pred): its kind and shape, of the
    rl_dtype grad_code (p's own dtype, or float32); zeros when zero
    (accumulate mode)."""
    same = grad_code == p.code
    if p.torch:
        torch = sys.modules["torch"]
        make = torch.zeros if zero else torch.empty
        return make(tuple(p.obj.shape), dtype=p.obj.dtype if same else torch.float32)
    make = np.zeros if zero else np.empty
    return make(p.obj.shape, dtype=p.obj.dtype if same else np.float32)


def check_out(out, p, grad_code, what="out"):
    """Checks a caller's gradient buffer for prediction p (a _Pred): its
    kind, dtype (of the rl_dtype grad_code), shape, layout, and no overlap
    with the prediction."""
    pred = p.obj
    if p.torch:
        torch = sys.modules["torch"]
        want = pred.dtype if grad_code == p.code else torch.float32
        if not isinstance(out, torch.Tensor):
            raise TypeError(f"{what}: a torch.Tensor ({want}) expected for a tensor pred, "
                            f"got {type(out).__name__}")
        if out.dtype != want or tuple(out.shape) != tuple(pred.shape):
            raise ValueError(f"{what}: {out.dtype} {tuple(out.shape)}; {want} "
                             f"{tuple(pred.shape)} (like pred) expected")
        if (out.device.type != "cpu" or not out.is_contiguous()
                or out.data_ptr() % out.element_size()):
            raise ValueError(f"{what}: must be a contiguous, aligned CPU tensor")
        lo, hi = out.data_ptr(), out.data_ptr() + out.numel() * out.element_size()
        plo = pred.data_ptr()
        if lo < plo + pred.numel() * pred.element_size() and plo < hi:
            raise ValueError(f"{what}: shares memory with pred; the gradient needs its own "
                             "buffer")
        return
    want = pred.dtype if grad_code == p.code else np.dtype(np.float32)
    if not isinstance(out, np.ndarray):
        raise TypeError(f"{what}: a numpy.ndarray of {want} expected, got "
                        f"{type(out).__name__}")
    if out.dtype != want or out.shape != pred.shape:
        raise ValueError(f"{what}: {out.dtype} {out.shape}; {want} {pred.shape} (like pred) "
                         "expected")
    if not out.flags.c_contiguous or not out.flags.aligned or not out.flags.writeable:
        raise ValueError(f"{what}: must be C-contiguous, aligned and writeable")
    if np.shares_memory(out, pred):
        raise ValueError(f"{what}: shares memory with pred; the gradient needs its own buffer")


def _grad_dtype_arg(grad_dtype):
    """grad_dtype= of a plan: None (the predictions' type) or "float32"."""
    if grad_dtype is not None and _dtype_name(grad_dtype) != "float32":
        raise ValueError(f"grad_dtype = {grad_dtype!r}; None (the predictions' type) or "
                         "'float32' expected")
    return None if grad_dtype is None else "float32"


def _anchors_arg(anchors, count, unit):
    """anchors as a C-contiguous (count, 2) float32 array of (w, h) pairs in
    unit, from (count, 2) pairs or 2*count values."""
    if isinstance(anchors, (str, bytes, numbers.Number)):
        raise TypeError(f"anchors = {anchors!r}; a sequence of (w, h) pairs in {unit} "
                        "expected")
    try:
        a = np.asarray(anchors, dtype=np.float64)
    except (TypeError, ValueError):
        raise TypeError(f"anchors = {anchors!r}; a sequence of (w, h) pairs of numbers in "
                        f"{unit} expected") from None
    if a.ndim == 1 and a.size % 2 == 0 and a.size > 0:
        a = a.reshape(-1, 2)
    if a.ndim != 2 or a.shape[1] != 2 or a.shape[0] < 1:
        raise ValueError(f"anchors: shape {np.shape(anchors)}; ({count}, 2) pairs (w, h) in "
                         f"{unit}, or 2{count} values w0, h0, w1, h1, ... expected")
    return np.ascontiguousarray(a, dtype=np.float32)


def _set_numbers(cfg, pairs):
    """Sets each (name, value) of pairs whose value is not None on cfg."""
    for name, value in pairs:
        if value is not None:
            setattr(cfg, name, _number(name, value))


def _set_norm(cfg, norm, table):
    """Sets cfg.norm from its name (None: the default kept); returns its name."""
    if norm is not None:
        cfg.norm = _choice("norm", norm, table)
    return {v: k for k, v in table.items()}.get(cfg.norm, str(cfg.norm))


def _variant_arg(variant):
    """variant= of a plan as the bytes the configuration holds."""
    if variant is None:
        variant = "auto"
    if not isinstance(variant, str):
        raise TypeError(f"variant = {variant!r}; a name from regionloss.variants() or "
                        "'auto' expected")
    return variant.encode()


def _shapes_text(shapes):
    """Expected shapes as a message words them: "(N, 75, 13, 13) or ..."."""
    return " or ".join(str(s).replace("'", "") for s in shapes)


def _check_n(shape, what, accepted, describe):
    """N of a prediction shape whose dimensions after N are in accepted;
    describe() words the expected shapes for the message otherwise."""
    shape = tuple(shape)
    n = shape[0] if shape else 0
    if shape[1:] not in accepted or n < 1:
        raise ValueError(f"{what}: shape {shape}; {describe()} with N >= 1")
    if n > 2 ** 31 - 1:
        raise ValueError(f"{what}: {n} images; at most 2^31 - 1 per call")
    return n


def _ensure_workspace(st, b, handle, n, m, size_fn):
    """Sizes the thread's workspace (st.ws, set on batch b) for plan handle
    and (n, m) by size_fn (the library's workspace-size call): asked again
    only when they change; grown, never shrunk."""
    if st.ws_key != (n, m, handle.value):
        size = ctypes.c_size_t()
        _lib.check(size_fn(handle, n, m, ctypes.byref(size)))
        if st.ws is None or st.ws.nbytes < size.value:
            st.ws = np.empty(max(size.value, 1), dtype=np.uint8)
            b.workspace = st.ws.ctypes.data
            b.workspace_size = st.ws.nbytes
        st.ws_key = (n, m, handle.value)


def _truths_from_rows(st, rows_ptr, m, n):
    """m label rows of 6 float32 at rows_ptr (checked by the caller)
    converted by rl_truths_from_rows into the thread's scratch (st.boxes,
    st.offsets: grown as needed, rewritten by every call).  Returns
    (status, boxes address, offsets address)."""
    if st.rows_key != (m, n):
        if st.boxes is None or len(st.boxes) < m or len(st.offsets) < n + 1:
            st.boxes = np.empty(max(m, 1 if st.boxes is None else len(st.boxes)),
                                dtype=BOX_DTYPE)
            st.offsets = np.empty(max(n + 1, 0 if st.offsets is None else len(st.offsets)),
                                  dtype=np.int64)
            st.ptrs = (st.boxes.ctypes.data, st.offsets.ctypes.data)
        st.rows_key = (m, n)
    bp, op = st.ptrs
    return _lib.truths_from_rows(rows_ptr if m else None, m, n, bp, op), bp, op


class _Handles:
    """The library plans of a Python plan, one per (prediction, gradient)
    element type, their life and the closing of them.  A subclass names its
    library calls (_create, _destroy), its configuration struct (_cfg_type)
    and itself in messages (_NAME); __init__ calls _init_handles first."""

    _NAME = "Plan"
    # No library plan until _create_first.  A class attribute too: an
    # object whose __init__ never ran its body (Python refuses an unknown
    # keyword before it) is still collected, and its __del__ -> close()
    # must find nothing to destroy, not raise AttributeError (printed as
    # a stray "Exception ignored in __del__" traceback).
    _handle = None

    def _init_handles(self):
        self._handle = None
        self._handles = {}
        self._handles_lock = threading.Lock()

    def _create_first(self, cfg):
        """Creates the float32 plan (which validates the configuration)."""
        handle = ctypes.c_void_p()
        _lib.check(self._create(ctypes.byref(cfg), ctypes.byref(handle)))
        self._handle = handle
        self._handles[(_F32, _F32)] = handle
        # The configuration, for the plans of the other element types.
        self._cfg = cfg

    def close(self):
        """Destroys the library plans (and stops their pools) now rather than
        at collection."""
        if self._handle is not None:
            with self._handles_lock:
                for h in self._handles.values():
                    self._destroy(h)
                self._handles = {}
                self._handle = None

    def __del__(self):
        self.close()

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()

    def _live(self):
        if self._handle is None:
            raise ValueError(f"this {self._NAME} was closed")
        return self._handle

    def _handle_for(self, code):
        """The library plan reading predictions of element type code (an
        rl_dtype) and writing the gradient in that type, or in float32 when
        grad_dtype="float32".  Made once, on first use."""
        key = (code, _F32 if self.grad_dtype else code)
        h = self._handles.get(key)
        if h is None:
            with self._handles_lock:
                self._live()
                h = self._handles.get(key)
                if h is None:
                    cfg = self._cfg_type.from_buffer_copy(self._cfg)
                    cfg.pred_dtype, cfg.grad_dtype = key
                    h = ctypes.c_void_p()
                    _lib.check(self._create(ctypes.byref(cfg), ctypes.byref(h)))
                    self._handles[key] = h
        return h


class _Keep:
    """What a call keeps alive until the library returns (converted targets,
    the prediction) and the plan handle of the prediction's element type."""

    __slots__ = ("targets", "pred", "handle")

    def __init__(self, targets, pred, handle):
        self.targets, self.pred, self.handle = targets, pred, handle


class Plan(_Handles):
    """A configured region loss (docs/python.md).

    Plan(anchors, num_classes, grid=(H, W), *, layout="nchw", mode="spec",
         lambda_coord, lambda_class, lambda_obj, lambda_noobj, thresh, norm,
         grad_mode="overwrite", threads=1, variant="auto",
         rescore, logistic_classes, warmup_seen, warmup_scale, flavour, classfix,
         focal_loss, grad_dtype=None)

    Options left as None take the library's defaults for the mode
    (rl_config_init / rl_config_init_darknet): lambdas 1, 1, 5, 1, thresh
    0.6, norm "batch" in spec mode and "sum" in darknet mode.  The library
    validates the configuration once, here; a bad one raises Error.
    Darknet mode only: flavour "pjreddie" (default) or "alexeyab" (AlexeyAB's
    [region] layer, docs/darknet.md), and with "alexeyab" its classfix
    (-1, 0, 1, 2) and focal_loss (bool).

    The predictions may be float32, float16 or bfloat16 (numpy arrays or
    CPU torch tensors, read in place); the element type is the array's, and
    the plan keeps a library plan per type, made at the first call that
    needs it.  grad_dtype=None returns the gradient in the predictions'
    type (a half gradient is the exact one rounded once, to nearest even);
    grad_dtype="float32" always in float32.

    A plan may be used by many threads at once (the GIL is released while
    the library computes); it owns a thread pool when threads > 1 (one per
    element type used)."""

    def __init__(self, anchors, num_classes, grid, *, layout="nchw", mode="spec",
                 lambda_coord=None, lambda_class=None, lambda_obj=None, lambda_noobj=None,
                 thresh=None, norm=None, grad_mode="overwrite", threads=1, variant="auto",
                 rescore=None, logistic_classes=None, warmup_seen=None, warmup_scale=None,
                 flavour=None, classfix=None, focal_loss=None, grad_dtype=None):
        self._init_handles()
        self.grad_dtype = _grad_dtype_arg(grad_dtype)
        cfg = _lib.rl_config()
        self.mode = mode
        if _choice("mode", mode, _lib.MODES) == _lib.MODES["darknet"]:
            _lib.config_init_darknet(ctypes.byref(cfg))
        else:
            _lib.config_init(ctypes.byref(cfg))

        self._anchors = _anchors_arg(anchors, "B", "grid cells")
        if isinstance(grid, numbers.Integral):
            grid = (grid, grid)
        if not isinstance(grid, (tuple, list)) or len(grid) != 2:
            raise ValueError(f"grid = {grid!r}; (H, W) expected")
        cfg.H, cfg.W = (_integer("grid", g) for g in grid)
        cfg.B = self._anchors.shape[0]
        cfg.C = _integer("num_classes", num_classes)
        cfg.anchors = self._anchors.ctypes.data
        self.layout = layout
        cfg.layout = _choice("layout", layout, _lib.LAYOUTS)
        _set_numbers(cfg, (("lambda_coord", lambda_coord), ("lambda_class", lambda_class),
                           ("lambda_obj", lambda_obj), ("lambda_noobj", lambda_noobj),
                           ("thresh", thresh), ("warmup_scale", warmup_scale)))
        self.norm = _set_norm(cfg, norm, _lib.NORMS)
        self.grad_mode = grad_mode
        cfg.grad_mode = _choice("grad_mode", grad_mode, _lib.GRAD_MODES)
        cfg.threads = _integer("threads", threads)
        cfg.variant = _variant_arg(variant)
        if flavour is not None:
            cfg.flavour = _choice("flavour", flavour, _lib.FLAVOURS)
        if classfix is not None:
            # checked here: ctypes would wrap an out-of-range int into int32
            if _integer("classfix", classfix) not in (-1, 0, 1, 2):
                raise ValueError(f"classfix = {classfix!r}; -1, 0, 1 or 2 expected")
            cfg.classfix = int(classfix)
        for name, value in (("rescore", rescore), ("logistic_classes", logistic_classes),
                            ("focal_loss", focal_loss)):
            if value is not None:
                if not isinstance(value, (bool, numbers.Integral)):
                    raise TypeError(f"{name} = {value!r}; a bool expected")
                setattr(cfg, name, int(bool(value)))
        if warmup_seen is not None:
            cfg.warmup_seen = _integer("warmup_seen", warmup_seen)

        # the float32 plan; the configuration's pointers are to
        # self._anchors and the variant bytes it keeps
        self._create_first(cfg)
        self.H, self.W, self.B, self.C = cfg.H, cfg.W, cfg.B, cfg.C
        self.K = 5 + cfg.C
        self.threads = cfg.threads
        self._tls = threading.local()  # per-thread workspace: calls allocate nothing
        # what check_pred accepts after N, computed once (it runs every call)
        self._shapes = tuple(tuple(s[1:]) for s in self.expected_shapes())

    # ---- life (_Handles) ---------------------------------------------------
    _NAME = "Plan"
    _cfg_type = _lib.rl_config
    _create = staticmethod(_lib.plan_create)
    _destroy = staticmethod(_lib.plan_destroy)

    @property
    def variant(self):
        """The variant this plan runs ("reference", "generic", "avx2", ...)."""
        return _lib.plan_variant(self._live()).decode()

    def __repr__(self):
        state = self.variant if self._handle is not None else "closed"
        return (f"Plan(grid=({self.H}, {self.W}), B={self.B}, C={self.C}, layout={self.layout!r}, "
                f"mode={self.mode!r}, norm={self.norm!r}, threads={self.threads}, {state})")

    # ---- calls ----------------------------------------------------------------
    def expected_shapes(self, n="N"):
        """The prediction shapes this plan reads, for messages and docs."""
        BK = self.B * self.K
        if self.layout == "nchw":
            return [(n, BK, self.H, self.W), (n, self.B, self.K, self.H, self.W)]
        return [(n, self.H, self.W, BK), (n, self.H, self.W, self.B, self.K)]

    def check_shape(self, shape, what="pred"):
        """Checks a prediction shape against the plan; returns N."""
        return _check_n(shape, what, self._shapes, lambda: (
            f"this {self.layout} plan (grid {self.H}x{self.W}, B={self.B}, C={self.C}) "
            f"reads {_shapes_text(self.expected_shapes())}"))

    def check_pred(self, pred, what="pred", dtype=None):
        """Validates a prediction array (or CPU tensor) without copying it;
        returns N."""
        return self._pred(pred, what, dtype).n

    def _pred(self, pred, what="pred", dtype=None):
        """The prediction as the library will read it (read_pred)."""
        return read_pred(pred, what, _dtype_name(dtype), self.check_shape)

    def _batch(self, pred, targets, seen, global_counts, dtype=None):
        p = self._pred(pred, "pred", dtype)
        handle = self._handle_for(p.code)
        t = as_targets(targets, p.n)
        m = len(t.boxes)
        ref = self._fill(p.ptr, p.n, m, t.boxes.ctypes.data if m else None,
                         t.offsets.ctypes.data, seen, global_counts, handle=handle)
        return ref, _Keep(t, p, handle)

    def _state(self):
        st = getattr(self._tls, "state", None)
        if st is None:
            st = _CallState()
            self._tls.state = st
        return st

    def _fill_rows(self, pred_ptr, n, rows_ptr, m, seen, global_counts, handle=None):
        """Like _fill, the truths being m label rows of 6 float32 at
        rows_ptr (C-contiguous; the caller checked dtype and shape),
        converted by rl_truths_from_rows into buffers this thread keeps.
        Returns the status of the conversion and the batch's byref (None
        on failure, when nothing but those buffers has been written)."""
        code, bp, op = _truths_from_rows(self._state(), rows_ptr, m, n)
        if code != _lib.RL_OK:
            return code, None
        return code, self._fill(pred_ptr, n, m, bp, op, seen, global_counts, handle=handle)

    def _fill(self, pred_ptr, n, m, truths_ptr, offsets_ptr, seen, global_counts, handle=None):
        """The calling thread's rl_batch, filled for a prediction of n images
        at pred_ptr and m truths at truths_ptr with their offsets (all
        validated or converted by the caller, who keeps them alive until the
        call returns), for the library plan handle (default: float32).  The struct, its byref and the workspace are kept per
        thread and reused, so that a call does a fixed, small amount of
        Python work and the library allocates nothing after the first call."""
        st = self._state()
        b = st.batch
        b.n_images = n
        b.pred = pred_ptr
        b.truths = truths_ptr
        b.truth_offsets = offsets_ptr
        if self.mode == "darknet":
            if seen is None:
                raise ValueError("darknet mode: seen= (images seen so far, this batch "
                                 "included, darknet's net.seen) is required")
            b.seen = _integer("seen", seen)
        else:
            b.seen = 0
        if global_counts is not None:
            gc = Counts(*global_counts)
            st.counts = _lib.rl_counts(*(_integer(f"global_counts.{f}", v)
                                         for f, v in zip(Counts._fields, gc)))
            b.global_counts = ctypes.pointer(st.counts)
        else:
            b.global_counts = None
        if handle is None:
            handle = self._live()
        _ensure_workspace(st, b, handle, n, m, _lib.workspace_size)
        return st.ref

    def compute(self, pred, targets, grad=True, *, seen=None, global_counts=None, out=None,
                dtype=None):
        """Loss, parts and (with grad=True or out=) the gradient of a batch.

        pred: float32, float16 or bfloat16, C-contiguous, in the plan's
        layout (see expected_shapes): a numpy array (bfloat16 as a uint16
        array of bit patterns with dtype="bfloat16", or ml_dtypes.bfloat16)
        or a CPU torch tensor; read in place, never copied.  dtype: the
        element type by name, checked against pred (needed only for uint16
        bit patterns).  targets: (M, 6) rows ``image, class, cx, cy, w, h``,
        a list of per-image (T, 5) ``class, cx, cy, w, h``, or Targets.
        seen: darknet mode, required.  global_counts: a Counts (or 4
        integers) to normalise by instead of this batch's own (data
        parallelism, docs/data-parallel.md).  out: an array (or tensor, for
        a tensor pred) shaped like pred to write the gradient into, of
        pred's dtype (float32 with grad_dtype="float32"); accumulate mode
        adds into it.  Without it a new one is returned, of that type and
        kind.  This is not an autograd operation (see regionloss.torch).

        Returns (Result, gradient or None).  On any error nothing has been
        written, out included."""
        bp, keep = self._batch(pred, targets, seen, global_counts, dtype)
        p = keep.pred
        g = None
        if out is not None:
            self._check_out(out, p)
            g = out
        elif grad:
            g = self._new_grad(p)
        r = _lib.rl_result()
        gptr = None if g is None else (g.data_ptr() if p.torch else g.ctypes.data)
        _lib.check(_lib.compute(keep.handle, bp, ctypes.byref(r), gptr))
        del keep
        return Result._from_c(r), g

    def _grad_code(self, p):
        return _F32 if self.grad_dtype else p.code

    def _new_grad(self, p):
        return new_grad(p, self._grad_code(p), self.grad_mode == "accumulate")

    def count(self, pred, targets, *, seen=None, dtype=None):
        """This batch's counts (rl_count: assignment and masks, no loss):
        what a shard all-reduces before compute(..., global_counts=...)."""
        bp, keep = self._batch(pred, targets, seen, None, dtype)
        c = _lib.rl_counts()
        _lib.check(_lib.count(keep.handle, bp, ctypes.byref(c)))
        del keep
        return Counts(c.n_obj, c.n_noobj, c.n_conf, c.n_images)

    def _check_out(self, out, p):
        check_out(out, p, self._grad_code(p))

    def decode(self, pred, *, dtype=None):
        """Boxes, objectness and class probabilities of pred as this plan's
        loss decodes them (regionloss.decode with the plan's anchors,
        layout and classes; logistic classes in darknet mode with
        logistic_classes).  A numpy pred gives numpy arrays (float64 by
        default), a torch tensor tensors (float32 by default)."""
        from ._decode import decode, decode_torch
        self.check_shape(tuple(pred.shape), "pred")
        logistic = self.mode == "darknet" and bool(self._cfg.logistic_classes)
        fn = decode_torch if _is_tensor(pred) else decode
        kw = {} if dtype is None else {"dtype": dtype}
        return fn(pred, self._anchors, layout=self.layout, num_classes=self.C,
                  logistic_classes=logistic, **kw)


class _CallState:
    """One thread's reusable call state for a plan: the rl_batch and its
    byref, the global counts it may point to, the workspace."""

    __slots__ = ("batch", "ref", "counts", "ws", "ws_key", "boxes", "offsets", "ptrs",
                 "rows_key")

    def __init__(self):
        self.batch = _lib.rl_batch()
        self.ref = ctypes.byref(self.batch)
        self.counts = None
        self.ws = None
        self.ws_key = None
        # truths converted from label rows (_fill_rows): scratch, rewritten
        # by every call, grown as needed
        self.boxes = self.offsets = self.ptrs = self.rows_key = None


def variants():
    """Variants compiled into this library and runnable on this CPU, best
    first (rl_variant_list); "reference" is the double-precision oracle."""
    lst = _lib.variant_list()
    out = []
    k = 0
    while lst[k] is not None:
        out.append(lst[k].decode())
        k += 1
    return out
