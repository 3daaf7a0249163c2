"""regionloss.YoloPlan: darknet's YOLOv3 [yolo] heads (rl_yolo_plan) and
their compute call (rl_yolo_compute).

A YoloPlan holds every head of a network, as the library's plan does: one
call checks and matches the truths once and computes every head.  It is a
class of its own rather than a mode of Plan because what configures it
differs (a list of heads with their masks into one anchor list in pixels,
the network's input size, two thresholds, no darknet/spec mode) and so do a
call's inputs and outputs (a prediction and a gradient per head, a result
per head and the total)."""

import ctypes
import numbers
import threading

import numpy as np

from . import _lib
from ._plan import (_F32, _Handles, _anchors_arg, _check_n, _choice, _dtype_name,
                    _ensure_workspace, _grad_dtype_arg, _integer, _set_norm, _set_numbers,
                    _shapes_text, _truths_from_rows, _variant_arg, check_out, new_grad,
                    read_pred)
from ._result import Counts, YoloResult
from ._targets import as_targets


def _int32(name, value):
    """An integer that a C int32_t field holds (ctypes would wrap it)."""
    value = _integer(name, value)
    if not -2 ** 31 <= value < 2 ** 31:
        raise ValueError(f"{name} = {value} does not fit int32")
    return value


def _heads_arg(heads):
    """heads as ((H, W, mask tuple), ...) with Python ints, or ValueError."""
    if isinstance(heads, (str, bytes)) or not hasattr(heads, "__len__"):
        raise TypeError(f"heads = {heads!r}; a list of (H, W, mask) expected")
    if not 1 <= len(heads) <= _lib.YOLO_MAX_HEADS:
        raise ValueError(f"heads: {len(heads)} heads; 1 to {_lib.YOLO_MAX_HEADS} (H, W, mask) "
                         "expected")
    out = []
    for h, head in enumerate(heads):
        if not isinstance(head, (tuple, list)) or len(head) != 3:
            raise ValueError(f"heads[{h}] = {head!r}; (H, W, mask) expected, mask the "
                             "indices of this head's anchors in the anchor list")
        H = _integer(f"heads[{h}] H", head[0])
        W = _integer(f"heads[{h}] W", head[1])
        mask = head[2]
        if isinstance(mask, numbers.Integral):
            mask = [mask]
        try:
            mask = tuple(_integer(f"heads[{h}] mask", m) for m in mask)
        except TypeError as e:
            if "mask" in str(e):
                raise
            raise TypeError(f"heads[{h}] mask = {head[2]!r}; a sequence of anchor indices "
                            "expected") from None
        if not mask:
            raise ValueError(f"heads[{h}]: an empty mask; a head has at least one anchor")
        # range and repeats are the library's checks (its message names
        # head, entry and the anchor count); here only what int32 holds
        for b, m in enumerate(mask):
            _int32(f"heads[{h}] mask[{b}]", m)
        out.append((_int32(f"heads[{h}] H", H), _int32(f"heads[{h}] W", W), mask))
    return tuple(out)


def _net_size_arg(net_size):
    """(net_w, net_h) from an integer (square) or (width, height)."""
    if isinstance(net_size, numbers.Integral) and not isinstance(net_size, bool):
        return _int32("net_size", net_size), _int32("net_size", net_size)
    if not isinstance(net_size, (tuple, list)) or len(net_size) != 2:
        raise ValueError(f"net_size = {net_size!r}; the network's input size in pixels, "
                         "(width, height) or one integer, expected")
    return (_int32("net_size width", net_size[0]), _int32("net_size height", net_size[1]))


def images_of(global_counts):
    """global_counts of a [yolo] call: None, an integer (the images of
    every shard), or a Counts / 4 integers of which n_images is read."""
    if global_counts is None:
        return None
    if isinstance(global_counts, numbers.Integral) and not isinstance(global_counts, bool):
        return int(global_counts)
    return _integer("global_counts.n_images", Counts(*global_counts).n_images)


class YoloPlan(_Handles):
    """The YOLOv3 [yolo] heads of a network (docs/python.md).

    YoloPlan(anchors, num_classes, heads, net_size, *, layout="nchw",
             lambda_coord, lambda_class, lambda_obj, lambda_noobj,
             ignore_thresh, truth_thresh, norm, grad_mode="overwrite",
             threads=1, variant="auto", grad_dtype=None, box_loss="mse")

    anchors: the network's whole anchor list in pixels, (A, 2) pairs (w, h)
    or 2A values (darknet's ``anchors=``).  heads: one (H, W, mask) per
    output scale, mask the indices of that head's anchors in the list
    (darknet's ``mask=``); a head's predictions are (N, len(mask)*(5+C),
    H, W).  net_size: the network's input size in pixels, (width, height)
    or one integer.  Options left as None take the library's defaults
    (rl_yolo_config_init): every lambda 1, ignore_thresh 0.7, truth_thresh
    1 (never), norm "images" ("sum" is darknet's).  box_loss: the box term
    of the positives, "mse" (darknet's, the default) or one of the
    IoU family "iou", "giou", "diou", "ciou" (docs/loss.md, "IoU-family box
    losses").  The library validates the configuration here; a bad one
    raises Error.

    Predictions of every head share one element type, float32, float16 or
    bfloat16 (numpy arrays or CPU torch tensors, read in place); a library
    plan per type is made at the first call that needs it, as Plan does.
    grad_dtype=None returns each gradient in the predictions' type,
    "float32" always in float32.  Thread-safe; the GIL is released while
    the library computes."""

    def __init__(self, anchors, num_classes, heads, net_size, *, layout="nchw",
                 lambda_coord=None, lambda_class=None, lambda_obj=None, lambda_noobj=None,
                 ignore_thresh=None, truth_thresh=None, norm=None, grad_mode="overwrite",
                 threads=1, variant="auto", grad_dtype=None, box_loss="mse",
                 flavour=None, iou_loss=None,
                 iou_thresh_kind=None, iou_normalizer=None, cls_normalizer=None,
                 obj_normalizer=None, scale_x_y=None, iou_thresh=None, label_smooth_eps=None,
                 max_delta=None, focal_loss=None, new_coords=None, objectness_smooth=None,
                 max_boxes=None, show_details=None, counters_per_class=None):
        self._init_handles()
        self.grad_dtype = _grad_dtype_arg(grad_dtype)
        cfg = _lib.rl_yolo_config()
        _lib.yolo_config_init(ctypes.byref(cfg))

        self._anchors = _anchors_arg(anchors, "A", "pixels")
        self.heads = _heads_arg(heads)
        self.net_w, self.net_h = _net_size_arg(net_size)
        self.n_heads = len(self.heads)
        # the C heads and their masks, kept alive with the configuration
        self._masks = [np.array(m, dtype=np.int32) for _, _, m in self.heads]
        self._c_heads = (_lib.rl_yolo_head * self.n_heads)()
        for h, (H, W, mask) in enumerate(self.heads):
            ch = self._c_heads[h]
            ch.H, ch.W, ch.B = H, W, len(mask)
            ch.mask = self._masks[h].ctypes.data
        cfg.n_heads = self.n_heads
        cfg.heads = ctypes.addressof(self._c_heads)
        cfg.C = _int32("num_classes", num_classes)
        cfg.n_anchors = len(self._anchors)
        cfg.anchors = self._anchors.ctypes.data
        cfg.net_w, cfg.net_h = self.net_w, self.net_h
        self.layout = layout
        cfg.layout = _choice("layout", layout, _lib.LAYOUTS)
        _set_numbers(cfg, (("lambda_coord", lambda_coord), ("lambda_class", lambda_class),
                           ("lambda_obj", lambda_obj), ("lambda_noobj", lambda_noobj),
                           ("ignore_thresh", ignore_thresh), ("truth_thresh", truth_thresh)))
        self.norm = _set_norm(cfg, norm, _lib.YOLO_NORMS)
        self.grad_mode = grad_mode
        cfg.grad_mode = _choice("grad_mode", grad_mode, _lib.GRAD_MODES)
        cfg.threads = _int32("threads", threads)
        cfg.variant = _variant_arg(variant)
        if box_loss is None:
            box_loss = "mse"
        cfg.box_loss = _choice("box_loss", box_loss, _lib.BOX_LOSSES)
        self.box_loss = box_loss
        self._set_alexeyab(cfg, flavour, iou_loss, iou_thresh_kind, (
            ("iou_normalizer", iou_normalizer), ("cls_normalizer", cls_normalizer),
            ("obj_normalizer", obj_normalizer), ("scale_x_y", scale_x_y),
            ("iou_thresh", iou_thresh), ("label_smooth_eps", label_smooth_eps),
            ("max_delta", max_delta)), (
            ("focal_loss", focal_loss), ("new_coords", new_coords),
            ("objectness_smooth", objectness_smooth), ("max_boxes", max_boxes),
            ("show_details", show_details)), counters_per_class, num_classes)
        self.lambdas = (cfg.lambda_coord, cfg.lambda_class, cfg.lambda_obj, cfg.lambda_noobj)
        self.ignore_thresh, self.truth_thresh = cfg.ignore_thresh, cfg.truth_thresh

        self._create_first(cfg)
        self.C = cfg.C
        self.K = 5 + cfg.C
        self.threads = cfg.threads
        self._tls = threading.local()
        # what each head's check accepts after N, computed once
        self._shapes = tuple(frozenset(tuple(s[1:]) for s in self.expected_shapes(h))
                             for h in range(self.n_heads))

    def _set_alexeyab(self, cfg, flavour, iou_loss, iou_thresh_kind, reals, ints, counters,
                      num_classes):
        """The flavour and AlexeyAB's [yolo] options (docs/darknet.md), named
        as darknet's keys; None keeps the library's default.  Their ranges,
        and that flavour "pjreddie" leaves them alone, are the library's
        checks."""
        if flavour is not None:
            cfg.flavour = _choice("flavour", flavour, _lib.YOLO_FLAVOURS)
        if iou_loss is not None:
            cfg.iou_loss = _choice("iou_loss", iou_loss, _lib.BOX_LOSSES)
        if iou_thresh_kind is not None:
            kinds = {k: v for k, v in _lib.BOX_LOSSES.items() if k != "mse"}
            cfg.iou_thresh_kind = _choice("iou_thresh_kind", iou_thresh_kind, kinds)
        _set_numbers(cfg, reals)
        for name, value in ints:
            if value is not None:
                setattr(cfg, name, _int32(name, value))
        self.flavour = {v: k for k, v in _lib.YOLO_FLAVOURS.items()}[cfg.flavour] \
            if cfg.flavour in _lib.YOLO_FLAVOURS.values() else cfg.flavour
        self._counters = None
        if counters is not None:
            if isinstance(counters, (str, bytes)) or not hasattr(counters, "__len__"):
                raise TypeError(f"counters_per_class = {counters!r}; one count per class "
                                "expected")
            values = [_int32(f"counters_per_class[{c}]", v) for c, v in enumerate(counters)]
            if len(values) != _integer("num_classes", num_classes):
                raise ValueError(f"counters_per_class: {len(values)} counts for {num_classes} "
                                 "classes; one per class expected")
            # kept alive with the configuration, which points at it
            self._counters = np.array(values, dtype=np.int32)
            cfg.counters_per_class = self._counters.ctypes.data

    # ---- life (_Handles) ---------------------------------------------------
    _NAME = "YoloPlan"
    _cfg_type = _lib.rl_yolo_config
    _create = staticmethod(_lib.yolo_plan_create)
    _destroy = staticmethod(_lib.yolo_plan_destroy)

    @property
    def variant(self):
        """The variant this plan runs ("reference", "generic", "avx2", ...)."""
        return _lib.yolo_plan_variant(self._live()).decode()

    def __repr__(self):
        state = self.variant if self._handle is not None else "closed"
        heads = ", ".join(f"({H}, {W}, {list(m)})" for H, W, m in self.heads)
        return (f"YoloPlan(heads=[{heads}], C={self.C}, net_size=({self.net_w}, "
                f"{self.net_h}), layout={self.layout!r}, norm={self.norm!r}, "
                f"box_loss={self.box_loss!r}, threads={self.threads}, {state})")

    # ---- shapes --------------------------------------------------------------
    def expected_shapes(self, head, n="N"):
        """The shapes head `head`'s predictions may have."""
        H, W, mask = self.heads[head]
        B = len(mask)
        if self.layout == "nchw":
            return [(n, B * self.K, H, W), (n, B, self.K, H, W)]
        return [(n, H, W, B * self.K), (n, H, W, B, self.K)]

    def check_shape(self, shape, head, what=None):
        """Checks head `head`'s prediction shape; returns N."""
        what = what or f"preds[{head}]"
        H, W, mask = self.heads[head]
        return _check_n(shape, what, self._shapes[head], lambda: (
            f"head {head} of this {self.layout} plan (grid {H}x{W}, B={len(mask)}, "
            f"C={self.C}) reads {_shapes_text(self.expected_shapes(head))}"))

    def _preds(self, preds, dtype=None, what="preds"):
        """Every head's prediction read as the library will (read_pred):
        one per head, the same N and element type for all.  Returns the
        list of _Pred."""
        if (isinstance(preds, np.ndarray) or not isinstance(preds, (list, tuple))
                or hasattr(preds, "dim")):
            raise TypeError(f"{what}: a list of {self.n_heads} per-head predictions (numpy "
                            f"arrays or CPU tensors) expected, got {type(preds).__name__}")
        if len(preds) != self.n_heads:
            raise ValueError(f"{what}: {len(preds)} predictions; this plan has "
                             f"{self.n_heads} heads, one each expected")
        want = _dtype_name(dtype)
        out = []
        for h, pred in enumerate(preds):
            p = read_pred(pred, f"{what}[{h}]", want,
                          lambda shape, w, h=h: self.check_shape(shape, h, w))
            if out and p.n != out[0].n:
                raise ValueError(f"{what}[{h}]: {p.n} images, {what}[0] holds {out[0].n}; "
                                 "every head's predictions are of the same batch")
            if out and (p.code != out[0].code or p.torch != out[0].torch):
                raise TypeError(f"{what}[{h}]: {_kind(p)}, {what}[0] is {_kind(out[0])}; every "
                                "head's predictions have one element type and kind")
            out.append(p)
        return out

    # ---- calls ----------------------------------------------------------------
    def _state(self):
        st = getattr(self._tls, "state", None)
        if st is None:
            st = _YoloCallState(self.n_heads)
            self._tls.state = st
        return st

    def _rows_to_truths(self, rows_ptr, m, n):
        """m label rows of 6 float32 at rows_ptr (checked by the caller)
        converted by rl_truths_from_rows into this thread's scratch.
        Returns (status, boxes address, offsets address)."""
        return _truths_from_rows(self._state(), rows_ptr, m, n)

    def _fill(self, preds, n, m, truths_ptr, offsets_ptr, images, handle):
        """The calling thread's rl_yolo_batch for predictions at the
        addresses preds (one per head, n images), m truths, and the global
        image count (None: this call's).  The struct, the pointer arrays
        and the workspace are kept per thread and reused."""
        st = self._state()
        b = st.batch
        b.n_images = n
        for h, ptr in enumerate(preds):
            st.preds[h] = ptr
        b.truths = truths_ptr
        b.truth_offsets = offsets_ptr
        if images is not None:
            st.counts.n_images = images
            b.global_counts = st.counts_ptr
        else:
            b.global_counts = None
        _ensure_workspace(st, b, handle, n, m, _lib.yolo_workspace_size)
        return st

    def _run(self, handle, st, grad_ptrs):
        """rl_yolo_compute with the thread's batch; grad_ptrs: None or one
        address (or None) per head.  Returns (total, per_head) structs."""
        total = _lib.rl_result()
        heads = (_lib.rl_result * self.n_heads)()
        gp = None
        if grad_ptrs is not None:
            for h, ptr in enumerate(grad_ptrs):
                st.grads[h] = ptr
            gp = ctypes.addressof(st.grads)
        _lib.check(_lib.yolo_compute(handle, st.ref, ctypes.byref(total),
                                     ctypes.addressof(heads), gp))
        return total, heads

    def compute(self, preds, targets, grad=True, *, global_counts=None, out=None,
                dtype=None):
        """Loss, parts and (with grad=True or out=) the gradient of every head.

        preds: one prediction per head, in the plan's head order, each
        C-contiguous in the plan's layout (see expected_shapes), numpy
        arrays or CPU torch tensors, all of one element type (float32,
        float16, bfloat16: as Plan.compute) and with the same N; read in
        place.  targets: as Plan.compute ((M, 6) rows ``image, class, cx,
        cy, w, h``, a list of per-image (T, 5), or Targets).
        global_counts: norm "images" only, to divide by the images of every
        shard instead of this call's (data parallelism): their number, or a
        Counts of which n_images is read.  out: a list with one gradient
        buffer per head (like its prediction; None skips that head's
        gradient); accumulate mode adds into them.  Without it, new arrays
        (or tensors) are returned.

        Returns (YoloResult, list of per-head gradients, or None).  On any
        error nothing has been written, out included."""
        ps = self._preds(preds, dtype)
        n = ps[0].n
        handle = self._handle_for(ps[0].code)
        t = as_targets(targets, n)
        images = images_of(global_counts)
        gcode = _F32 if self.grad_dtype else ps[0].code
        grads = None
        if out is not None:
            if not isinstance(out, (list, tuple)) or len(out) != self.n_heads:
                raise ValueError(f"out: a list of {self.n_heads} gradient buffers (or None) "
                                 "expected, one per head")
            for h, (o, p) in enumerate(zip(out, ps)):
                if o is not None:
                    check_out(o, p, gcode, f"out[{h}]")
            grads = list(out)
        elif grad:
            zero = self.grad_mode == "accumulate"
            grads = [new_grad(p, gcode, zero) for p in ps]
        m = len(t.boxes)
        st = self._fill([p.ptr for p in ps], n, m, t.boxes.ctypes.data if m else None,
                        t.offsets.ctypes.data, images, handle)
        gptrs = None
        if grads is not None:
            gptrs = [None if g is None else (g.data_ptr() if ps[0].torch else g.ctypes.data)
                     for g in grads]
        total, heads = self._run(handle, st, gptrs)
        del t, ps
        return YoloResult._from_c(total, heads, self.n_heads), grads

    def decode(self, preds, *, dtype=None):
        """Each head's boxes, objectness and class probabilities as the
        loss decodes them: a list with one Decoded per head
        (regionloss.decode with layer="yolo", the head's anchors and the
        plan's net size); numpy arrays for numpy preds (float64 by
        default), tensors for tensors (float32 by default)."""
        from ._decode import decode, decode_torch
        from ._plan import _is_tensor
        if not isinstance(preds, (list, tuple)) or len(preds) != self.n_heads:
            raise ValueError(f"preds: a list of {self.n_heads} predictions expected, one per "
                             "head")
        kw = {} if dtype is None else {"dtype": dtype}
        out = []
        for h, p in enumerate(preds):
            self.check_shape(tuple(p.shape), h)
            fn = decode_torch if _is_tensor(p) else decode
            out.append(fn(p, self._anchors[list(self.heads[h][2])], layer="yolo",
                          layout=self.layout, num_classes=self.C,
                          net_size=(self.net_w, self.net_h), **kw))
        return out


def _kind(p):
    name = _lib.DTYPE_NAMES[p.code]
    return f"a {name} tensor" if p.torch else f"a {name} array"


class _YoloCallState:
    """One thread's reusable call state for a YoloPlan: the rl_yolo_batch,
    its prediction and gradient pointer arrays, the global counts, the
    workspace, the scratch truths of label rows."""

    __slots__ = ("batch", "ref", "preds", "grads", "counts", "counts_ptr", "ws", "ws_key",
                 "boxes", "offsets", "ptrs", "rows_key")

    def __init__(self, n_heads):
        self.batch = _lib.rl_yolo_batch()
        self.ref = ctypes.byref(self.batch)
        self.preds = (ctypes.c_void_p * n_heads)()
        self.grads = (ctypes.c_void_p * n_heads)()
        self.batch.preds = ctypes.addressof(self.preds)
        self.counts = _lib.rl_counts()
        self.counts_ptr = ctypes.pointer(self.counts)
        self.ws = None
        self.ws_key = None
        self.boxes = self.offsets = self.ptrs = self.rows_key = None
