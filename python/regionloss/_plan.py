"""regionloss.Plan: a configured loss (rl_plan) and its compute call."""

import ctypes
import numbers
import threading

import numpy as np

from . import _lib
from ._result import Counts, Result
from ._targets import BOX_DTYPE, as_targets


def _choice(name, value, table):
    if not isinstance(value, str) or value not in table:
        raise ValueError(f"{name} = {value!r}; one of {', '.join(map(repr, table))} expected")
    return table[value]


def _number(name, value):
    if isinstance(value, bool) or not isinstance(value, numbers.Real):
        raise TypeError(f"{name} = {value!r}; a number expected")
    return float(value)


def _integer(name, value):
    if isinstance(value, bool) or not isinstance(value, numbers.Integral):
        raise TypeError(f"{name} = {value!r}; an integer expected")
    return int(value)


class Plan:
    """A configured region loss (docs/python.md).

    Plan(anchors, num_classes, grid=(H, W), *, layout="nchw", mode="spec",
         lambda_coord, lambda_class, lambda_obj, lambda_noobj, thresh, norm,
         grad_mode="overwrite", threads=1, variant="auto",
         rescore, logistic_classes, warmup_seen, warmup_scale)

    Options left as None take the library's defaults for the mode
    (rl_config_init / rl_config_init_darknet): lambdas 1, 1, 5, 1, thresh
    0.6, norm "batch" in spec mode and "sum" in darknet mode.  The library
    validates the configuration once, here; a bad one raises Error.

    A plan may be used by many threads at once (the GIL is released while
    the library computes); it owns a thread pool when threads > 1."""

    def __init__(self, anchors, num_classes, grid, *, layout="nchw", mode="spec",
                 lambda_coord=None, lambda_class=None, lambda_obj=None, lambda_noobj=None,
                 thresh=None, norm=None, grad_mode="overwrite", threads=1, variant="auto",
                 rescore=None, logistic_classes=None, warmup_seen=None, warmup_scale=None):
        self._handle = None
        cfg = _lib.rl_config()
        self.mode = mode
        if _choice("mode", mode, _lib.MODES) == _lib.MODES["darknet"]:
            _lib.config_init_darknet(ctypes.byref(cfg))
        else:
            _lib.config_init(ctypes.byref(cfg))

        a = np.asarray(anchors, dtype=np.float64)
        if a.ndim == 1 and a.size % 2 == 0 and a.size > 0:
            a = a.reshape(-1, 2)
        if a.ndim != 2 or a.shape[1] != 2 or a.shape[0] < 1:
            raise ValueError(f"anchors: shape {np.shape(anchors)}; (B, 2) pairs (w, h) in grid "
                             "cells, or 2B values w0, h0, w1, h1, ... expected")
        self._anchors = np.ascontiguousarray(a, dtype=np.float32)
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
        for name, value in (("lambda_coord", lambda_coord), ("lambda_class", lambda_class),
                            ("lambda_obj", lambda_obj), ("lambda_noobj", lambda_noobj),
                            ("thresh", thresh), ("warmup_scale", warmup_scale)):
            if value is not None:
                setattr(cfg, name, _number(name, value))
        if norm is not None:
            cfg.norm = _choice("norm", norm, _lib.NORMS)
        self.norm = {v: k for k, v in _lib.NORMS.items()}.get(cfg.norm, str(cfg.norm))
        self.grad_mode = grad_mode
        cfg.grad_mode = _choice("grad_mode", grad_mode, _lib.GRAD_MODES)
        cfg.threads = _integer("threads", threads)
        if variant is None:
            variant = "auto"
        if not isinstance(variant, str):
            raise TypeError(f"variant = {variant!r}; a name from regionloss.variants() or "
                            "'auto' expected")
        cfg.variant = variant.encode()
        for name, value in (("rescore", rescore), ("logistic_classes", logistic_classes)):
            if value is not None:
                if not isinstance(value, (bool, numbers.Integral)):
                    raise TypeError(f"{name} = {value!r}; a bool expected")
                setattr(cfg, name, int(bool(value)))
        if warmup_seen is not None:
            cfg.warmup_seen = _integer("warmup_seen", warmup_seen)

        handle = ctypes.c_void_p()
        _lib.check(_lib.plan_create(ctypes.byref(cfg), ctypes.byref(handle)))
        self._handle = handle
        self.H, self.W, self.B, self.C = cfg.H, cfg.W, cfg.B, cfg.C
        self.K = 5 + cfg.C
        self.threads = cfg.threads
        self._tls = threading.local()  # per-thread workspace: calls allocate nothing
        # what check_pred accepts after N, computed once (it runs every call)
        self._shapes = tuple(tuple(s[1:]) for s in self.expected_shapes())

    # ---- life --------------------------------------------------------------
    def close(self):
        """Destroys the plan (and stops its pool) now rather than at collection."""
        if self._handle is not None:
            _lib.plan_destroy(self._handle)
            self._handle = None

    def __del__(self):
        self.close()

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()

    @property
    def variant(self):
        """The variant this plan runs ("reference", "generic", "avx2", ...)."""
        return _lib.plan_variant(self._live()).decode()

    def _live(self):
        if self._handle is None:
            raise ValueError("this Plan was closed")
        return self._handle

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

    def check_pred(self, pred, what="pred"):
        """Validates a prediction array without copying it; returns N."""
        if not isinstance(pred, np.ndarray):
            raise TypeError(f"{what}: a numpy.ndarray of float32 expected, got "
                            f"{type(pred).__name__}")
        if pred.dtype != np.float32:
            raise TypeError(f"{what}: dtype {pred.dtype}; the library reads float32 (convert "
                            "with .astype(np.float32), a copy)")
        n = pred.shape[0] if pred.ndim else 0
        if pred.shape[1:] not in self._shapes or n < 1:
            want = " or ".join(str(s).replace("'", "") for s in self.expected_shapes())
            raise ValueError(f"{what}: shape {pred.shape}; this {self.layout} plan (grid "
                             f"{self.H}x{self.W}, B={self.B}, C={self.C}) reads {want} "
                             "with N >= 1")
        if not pred.flags.c_contiguous:
            raise ValueError(f"{what}: not C-contiguous (strides {pred.strides}); the library "
                             "reads the array in place: pass np.ascontiguousarray(...)")
        if not pred.flags.aligned:
            raise ValueError(f"{what}: not aligned to float32")
        if n > 2 ** 31 - 1:
            raise ValueError(f"{what}: {n} images; at most 2^31 - 1 per call")
        return n

    def _batch(self, pred, targets, seen, global_counts):
        n = self.check_pred(pred)
        t = as_targets(targets, n)
        m = len(t.boxes)
        ref = self._fill(pred.ctypes.data, n, m, t.boxes.ctypes.data if m else None,
                         t.offsets.ctypes.data, seen, global_counts)
        return ref, t

    def _state(self):
        st = getattr(self._tls, "state", None)
        if st is None:
            st = _CallState()
            self._tls.state = st
        return st

    def _fill_rows(self, pred_ptr, n, rows_ptr, m, seen, global_counts):
        """Like _fill, the truths being m label rows of 6 float32 at
        rows_ptr (C-contiguous; the caller checked dtype and shape),
        converted by rl_truths_from_rows into buffers this thread keeps.
        Returns the status of the conversion and the batch's byref (None
        on failure, when nothing but those buffers has been written)."""
        st = self._state()
        if st.rows_key != (m, n):
            if st.boxes is None or len(st.boxes) < m or len(st.offsets) < n + 1:
                st.boxes = np.empty(max(m, 1 if st.boxes is None else len(st.boxes)),
                                    dtype=BOX_DTYPE)
                st.offsets = np.empty(max(n + 1, 0 if st.offsets is None else len(st.offsets)),
                                      dtype=np.int64)
                st.ptrs = (st.boxes.ctypes.data, st.offsets.ctypes.data)
            st.rows_key = (m, n)
        bp, op = st.ptrs
        code = _lib.truths_from_rows(rows_ptr if m else None, m, n, bp, op)
        if code != _lib.RL_OK:
            return code, None
        return code, self._fill(pred_ptr, n, m, bp, op, seen, global_counts)

    def _fill(self, pred_ptr, n, m, truths_ptr, offsets_ptr, seen, global_counts):
        """The calling thread's rl_batch, filled for a prediction of n images
        at pred_ptr and m truths at truths_ptr with their offsets (all
        validated or converted by the caller, who keeps them alive until the
        call returns).  The struct, its byref and the workspace are kept per
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
        # The workspace's size depends on (n, m) only: asked again only
        # when they change; grown, never shrunk.
        if st.ws_key != (n, m):
            size = ctypes.c_size_t()
            _lib.check(_lib.workspace_size(self._live(), n, m, ctypes.byref(size)))
            if st.ws is None or st.ws.nbytes < size.value:
                st.ws = np.empty(max(size.value, 1), dtype=np.uint8)
                b.workspace = st.ws.ctypes.data
                b.workspace_size = st.ws.nbytes
            st.ws_key = (n, m)
        return st.ref

    def compute(self, pred, targets, grad=True, *, seen=None, global_counts=None, out=None):
        """Loss, parts and (with grad=True or out=) the gradient of a batch.

        pred: float32, C-contiguous, in the plan's layout (see
        expected_shapes); read in place, never copied.  targets: (M, 6)
        rows ``image, class, cx, cy, w, h``, a list of per-image (T, 5)
        ``class, cx, cy, w, h``, or Targets.  seen: darknet mode, required.
        global_counts: a Counts (or 4 integers) to normalise by instead of
        this batch's own (data parallelism, docs/data-parallel.md).
        out: a float32 array shaped like pred to write the gradient into
        (accumulate mode adds into it); without it a new one is returned.

        Returns (Result, gradient or None).  On any error nothing has been
        written, out included."""
        bp, keep = self._batch(pred, targets, seen, global_counts)
        g = None
        if out is not None:
            self._check_out(out, pred)
            g = out
        elif grad:
            g = np.zeros_like(pred) if self.grad_mode == "accumulate" else np.empty_like(pred)
        r = _lib.rl_result()
        _lib.check(_lib.compute(self._live(), bp, ctypes.byref(r),
                                g.ctypes.data if g is not None else None))
        del keep
        return Result._from_c(r), g

    def count(self, pred, targets, *, seen=None):
        """This batch's counts (rl_count: assignment and masks, no loss):
        what a shard all-reduces before compute(..., global_counts=...)."""
        bp, keep = self._batch(pred, targets, seen, None)
        c = _lib.rl_counts()
        _lib.check(_lib.count(self._live(), bp, ctypes.byref(c)))
        del keep
        return Counts(c.n_obj, c.n_noobj, c.n_conf, c.n_images)

    def _check_out(self, out, pred):
        if not isinstance(out, np.ndarray):
            raise TypeError(f"out: a numpy.ndarray of float32 expected, got {type(out).__name__}")
        if out.dtype != np.float32 or out.shape != pred.shape:
            raise ValueError(f"out: {out.dtype} {out.shape}; float32 {pred.shape} (like pred) "
                             "expected")
        if not out.flags.c_contiguous or not out.flags.aligned or not out.flags.writeable:
            raise ValueError("out: must be C-contiguous, aligned and writeable")
        if np.shares_memory(out, pred):
            raise ValueError("out: shares memory with pred; the gradient needs its own buffer")


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
