#!/usr/bin/python3
"""The library's [yolo] heads (rl_yolo_compute: the three heads of a YOLOv3
network in one call) against a vectorised PyTorch autograd implementation
of the same loss (bench/torch_yolo_loss.py, forward plus backward), on
batches shaped like bench/workloads.c's yolo rows: YOLOv3 at 416 and 608
pixels, 16 images, 80 classes, 8 and 60 truths per image with COCO's spread
of sizes, NCHW float32, one thread.

    REGIONLOSS_LIBRARY=build-bench/src/libregionloss.so.0 \\
        /usr/bin/python3 bench/torch_vs_yolo.py [--reps R] [--filter 608]

The library is called through ctypes declarations of the rl_yolo_* API
written here, on top of the package's loader and result struct
(regionloss._lib): the package's own [yolo] binding is not in this tree
yet.  The calls are what a C trainer makes: plans (1 thread, the auto
variant), gradient buffers and workspace made once, truths converted once
with rl_truths_from_rows (timed on its own: the "rows" column).

Timing, in one run: every repetition takes PyTorch's step, then the
library in accumulate mode, then in overwrite mode, so that all see the
same load on a shared machine; each library call is timed after an
untimed call of its own (its steady state, as in a training loop; a
PyTorch step streams hundreds of MB and needs no such warm-up).  Clock:
the calling thread's CPU time (time.thread_time; torch.set_num_threads(1),
so everything runs in that thread).  Reported: the fastest of R and the
median, in ns per image.  Target (issue 22): the library's accumulate call
at least 50x faster than PyTorch per image on the 608 rows.

Before timing, each row checks that the two compute the same loss: the
library's total (variant --check-variant, default auto) against PyTorch's,
relative difference at most 1e-4, the positive and negative counts, and
the gradients compared entry by entry (printed: the largest difference
over the largest entry, and how many entries differ by more than 1e-3 of
it: a slot whose best IoU is within float rounding of ignore_thresh may be
decided differently by the two).
"""
import argparse
import ctypes
import os
import statistics
import sys
import time

import numpy as np
import torch

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
try:
    import regionloss  # installed, or on PYTHONPATH
except ImportError:
    sys.path.insert(0, os.path.join(HERE, "..", "python"))  # the source tree's
    import regionloss
from regionloss import _lib  # noqa: E402
from torch_yolo_loss import TorchYoloLoss  # noqa: E402

ANCHORS = [(10, 13), (16, 30), (33, 23), (30, 61), (62, 45), (59, 119), (116, 90), (156, 198),
           (373, 326)]
MASKS = [[6, 7, 8], [3, 4, 5], [0, 1, 2]]
C = 80
# name, network size, truths per image: bench/workloads.c's yolo rows (batch 16)
ROWS = [("yolo416-8", 416, 8), ("yolo416-60", 416, 60), ("yolo608-8", 608, 8),
        ("yolo608-60", 608, 60)]
N = 16


# ---- the rl_yolo_* API (include/regionloss.h) -------------------------------
class rl_yolo_head(ctypes.Structure):
    _fields_ = [("H", ctypes.c_int32), ("W", ctypes.c_int32), ("B", ctypes.c_int32),
                ("mask", ctypes.c_void_p)]


class rl_yolo_config(ctypes.Structure):
    _fields_ = [
        ("n_heads", ctypes.c_int32), ("heads", ctypes.c_void_p), ("C", ctypes.c_int32),
        ("n_anchors", ctypes.c_int32), ("anchors", ctypes.c_void_p),
        ("net_w", ctypes.c_int32), ("net_h", ctypes.c_int32), ("layout", ctypes.c_int),
        ("pred_dtype", ctypes.c_int16), ("grad_dtype", ctypes.c_int16),
        ("lambda_coord", ctypes.c_double), ("lambda_class", ctypes.c_double),
        ("lambda_obj", ctypes.c_double), ("lambda_noobj", ctypes.c_double),
        ("ignore_thresh", ctypes.c_double), ("truth_thresh", ctypes.c_double),
        ("norm", ctypes.c_int), ("grad_mode", ctypes.c_int), ("variant", ctypes.c_char_p),
        ("threads", ctypes.c_int32),
    ]


class rl_yolo_batch(ctypes.Structure):
    _fields_ = [("n_images", ctypes.c_int32), ("preds", ctypes.c_void_p),
                ("truths", ctypes.c_void_p), ("truth_offsets", ctypes.c_void_p),
                ("global_counts", ctypes.c_void_p), ("workspace", ctypes.c_void_p),
                ("workspace_size", ctypes.c_size_t)]


def _fn(name, restype, *argtypes):
    f = getattr(_lib.lib, name)
    f.restype = restype
    f.argtypes = list(argtypes)
    return f


_P = ctypes.POINTER
yolo_config_init = _fn("rl_yolo_config_init", None, _P(rl_yolo_config))
yolo_plan_create = _fn("rl_yolo_plan_create", ctypes.c_int, _P(rl_yolo_config),
                       _P(ctypes.c_void_p))
yolo_plan_destroy = _fn("rl_yolo_plan_destroy", None, ctypes.c_void_p)
yolo_plan_variant = _fn("rl_yolo_plan_variant", ctypes.c_char_p, ctypes.c_void_p)
yolo_workspace_size = _fn("rl_yolo_workspace_size", ctypes.c_int, ctypes.c_void_p,
                          ctypes.c_int32, ctypes.c_int64, _P(ctypes.c_size_t))
yolo_compute = _fn("rl_yolo_compute", ctypes.c_int, ctypes.c_void_p, _P(rl_yolo_batch),
                   _P(_lib.rl_result), ctypes.c_void_p, ctypes.c_void_p)


class YoloCall:
    """One plan and everything a call needs, made once; __call__ is one
    rl_yolo_compute into the plan's own gradient buffers."""

    def __init__(self, net, preds, rows, accumulate, variant="auto"):
        self.keep = []
        grids = [p.shape[2] for p in preds]
        masks = [(ctypes.c_int32 * 3)(*m) for m in MASKS]
        heads = (rl_yolo_head * 3)(*[rl_yolo_head(g, g, 3, ctypes.addressof(m))
                                     for g, m in zip(grids, masks)])
        anchors = (ctypes.c_float * 18)(*[v for a in ANCHORS for v in a])
        cfg = rl_yolo_config()
        yolo_config_init(ctypes.byref(cfg))
        assert cfg.ignore_thresh == 0.7 and cfg.truth_thresh == 1.0 and cfg.threads == 1, \
            "rl_yolo_config as declared here does not match the library's"
        cfg.n_heads, cfg.heads, cfg.C = 3, ctypes.addressof(heads), C
        cfg.n_anchors, cfg.anchors = 9, ctypes.addressof(anchors)
        cfg.net_w = cfg.net_h = net
        cfg.grad_mode = 1 if accumulate else 0
        cfg.variant = variant.encode()
        self.plan = ctypes.c_void_p()
        _lib.check(yolo_plan_create(ctypes.byref(cfg), ctypes.byref(self.plan)))
        self.variant = yolo_plan_variant(self.plan).decode()
        n = len(preds[0])
        self.boxes = (_lib.rl_box * max(len(rows), 1))()
        self.offsets = (ctypes.c_int64 * (n + 1))()
        self.rows = np.ascontiguousarray(rows, dtype=np.float32)
        self.to_truths()
        self.grads = [np.zeros_like(p) for p in preds]
        ws = ctypes.c_size_t()
        _lib.check(yolo_workspace_size(self.plan, n, len(rows), ctypes.byref(ws)))
        self.ws = np.zeros(max(ws.value, 1), dtype=np.uint8)
        self.pred_ptrs = (ctypes.c_void_p * 3)(*[p.ctypes.data for p in preds])
        self.grad_ptrs = (ctypes.c_void_p * 3)(*[g.ctypes.data for g in self.grads])
        self.batch = rl_yolo_batch(n, ctypes.addressof(self.pred_ptrs),
                                   ctypes.addressof(self.boxes), ctypes.addressof(self.offsets),
                                   None, self.ws.ctypes.data, ws.value)
        self.result = _lib.rl_result()
        self.args = (self.plan, ctypes.byref(self.batch), ctypes.byref(self.result), None,
                     ctypes.addressof(self.grad_ptrs))
        self.keep += [masks, heads, anchors, preds]

    def to_truths(self):
        _lib.check(_lib.truths_from_rows(self.rows.ctypes.data, len(self.rows),
                                         len(self.offsets) - 1, ctypes.addressof(self.boxes),
                                         ctypes.addressof(self.offsets)))

    def __call__(self):
        _lib.check(yolo_compute(*self.args))

    def __del__(self):
        yolo_plan_destroy(self.plan)


# ---- the inputs (bench/workloads.c's yolo_input_make, drawn with numpy) ------
def make_batch(net, per, seed=22):
    """Predictions of a half-trained detector (objectness mostly low, class
    logits mostly negative), truths inside the image with COCO's spread of
    sizes (sqrt(w h) log-normal around 7.5%, sigma 1.2; aspect log-normal,
    sigma 0.6), half of them nearly learnt by every anchor at their cell."""
    rng = np.random.default_rng(seed)
    K = 5 + C
    grids = [net // 32, net // 16, net // 8]
    preds = []
    for G in grids:
        p = np.empty((N, 3, K, G, G), dtype=np.float32)
        p[:, :, 0:2] = rng.uniform(-2, 2, (N, 3, 2, G, G))
        p[:, :, 2:4] = rng.uniform(-1, 1, (N, 3, 2, G, G))
        p[:, :, 4] = rng.uniform(-7, 1, (N, 3, G, G))
        p[:, :, 5:] = rng.uniform(-6, 2, (N, 3, C, G, G))
        preds.append(p)
    M = N * per
    s = np.clip(0.075 * np.exp(1.2 * rng.standard_normal(M)), 0.005, 1.0)
    a = np.exp(0.6 * rng.standard_normal(M))
    w = np.clip(s * np.sqrt(a), 0.004, 1.0).astype(np.float32)
    h = np.clip(s / np.sqrt(a), 0.004, 1.0).astype(np.float32)
    cx = rng.uniform(w / 2, 1 - w / 2).astype(np.float32)
    cy = rng.uniform(h / 2, 1 - h / 2).astype(np.float32)
    cls = rng.integers(0, C, M)
    img = np.repeat(np.arange(N), per)
    for t in np.nonzero(rng.uniform(size=M) < 0.5)[0]:
        for hd, G in enumerate(grids):
            X, Y = float(cx[t]) * G, float(cy[t]) * G
            j, i = min(int(X), G - 1), min(int(Y), G - 1)
            for b, an in enumerate(MASKS[hd]):
                aw, ah = ANCHORS[an]
                q = preds[hd][img[t], b, :, i, j]
                q[0] = logit(X - j + rng.uniform(-0.1, 0.1))
                q[1] = logit(Y - i + rng.uniform(-0.1, 0.1))
                q[2] = np.log(w[t] * net / aw) + rng.uniform(-0.2, 0.2)
                q[3] = np.log(h[t] * net / ah) + rng.uniform(-0.2, 0.2)
                q[4] = rng.uniform(-1, 3)
    rows = np.stack([img, cls, cx, cy, w, h], 1).astype(np.float32)
    return [p.reshape(N, 3 * K, p.shape[3], p.shape[4]) for p in preds], rows


def logit(p):
    p = min(max(p, 0.02), 0.98)
    return np.log(p / (1 - p))


# ---- timing ------------------------------------------------------------------
def interleaved(fns, warm, reps, clock):
    """Each repetition calls every function in turn (the same load for all);
    fns with warm set are timed after an untimed call of their own."""
    ts = [[] for _ in fns]
    for f in fns:  # plans, workspaces, allocator, torch's caching
        f()
    for _ in range(reps):
        for f, wf, t in zip(fns, warm, ts):
            if wf:
                f()
            t0 = clock()
            f()
            t.append(clock() - t0)
    return ts


def check(net, preds, rows, outs, crit, targets, variant):
    """The library and PyTorch compute the same loss and gradient."""
    for o in outs:
        o.grad = None
    loss = crit(outs, targets)
    loss.backward()
    ref = YoloCall(net, preds, rows, accumulate=False, variant=variant)
    ref()
    r = ref.result
    rel = abs(loss.item() - r.loss) / abs(r.loss)
    worst, off = 0.0, 0
    for o, g in zip(outs, ref.grads):
        d = np.abs(o.grad.numpy() - g)
        scale = float(np.abs(g).max())
        worst = max(worst, float(d.max()) / scale)
        off += int((d > 1e-3 * scale).sum())
    counts_ok = crit.last["n_obj"] == r.n_obj and crit.last["n_noobj"] == r.n_noobj
    note = "" if counts_ok else (f"; counts differ: torch n_obj {crit.last['n_obj']} n_noobj "
                                 f"{crit.last['n_noobj']}, library {r.n_obj} {r.n_noobj}")
    return rel, worst, off, ref.variant, note


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--reps", type=int, default=10)
    ap.add_argument("--filter", default="")
    ap.add_argument("--check-variant", default="auto",
                    help="the variant whose loss and gradient PyTorch's are checked against")
    a = ap.parse_args()
    torch.set_num_threads(1)
    clock = time.thread_time
    load0 = os.getloadavg()
    print(f"regionloss {regionloss.version()} ({_lib.path}), torch {torch.__version__}, "
          f"1 thread, {a.reps} interleaved repetitions; ns per image (batch {N}), "
          "CPU time of the calling thread; fastest (median)")
    print(f"load average {load0[0]:.2f} {load0[1]:.2f} {load0[2]:.2f} at start")
    print(f"{'row':11} {'torch':>19} {'accumulate':>17} {'overwrite':>17} {'rows':>6} "
          f"{'torch/acc':>10} {'torch/over':>10}   {'loss rel':>8} {'grad rel':>8} "
          f"{'>1e-3':>5}  variant (check)")
    bad = 0
    for name, net, per in ROWS:
        if a.filter not in name:
            continue
        preds, rows = make_batch(net, per)
        outs = [torch.from_numpy(p).requires_grad_() for p in preds]  # the same memory
        targets = torch.from_numpy(rows)
        crit = TorchYoloLoss(ANCHORS, MASKS, C, (net, net))
        rel, grel, off, cvar, note = check(net, preds, rows, outs, crit, targets,
                                           a.check_variant)
        acc = YoloCall(net, preds, rows, accumulate=True)
        over = YoloCall(net, preds, rows, accumulate=False)

        def torch_step():
            for o in outs:
                o.grad = None
            crit(outs, targets).backward()
        ts = interleaved([torch_step, acc, over, acc.to_truths], [False, True, True, True],
                         a.reps, clock)
        best = [min(t) * 1e9 / N for t in ts]
        med = [statistics.median(t) * 1e9 / N for t in ts]
        print(f"{name:11} {best[0]:9.0f} ({med[0]:8.0f}) {best[1]:7.0f} ({med[1]:7.0f}) "
              f"{best[2]:7.0f} ({med[2]:7.0f}) {best[3]:6.0f} {best[0] / best[1]:9.1f}x "
              f"{best[0] / best[2]:9.1f}x   {rel:8.1e} {grel:8.1e} {off:5d}  {acc.variant} "
              f"({cvar}){note}", flush=True)
        if name.startswith("yolo608"):
            print(f"  target: accumulate at least 50x faster than PyTorch per image: "
                  f"{best[0] / best[1]:.1f}x (medians {med[0] / med[1]:.1f}x): "
                  f"{'met' if best[0] / best[1] >= 50 else 'MISSED'}")
        bad += rel > 1e-4 or bool(note)
    load1 = os.getloadavg()
    print(f"load average {load1[0]:.2f} {load1[1]:.2f} {load1[2]:.2f} at end")
    if bad:
        print("the two losses differ: not the same loss", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
