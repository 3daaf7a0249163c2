#!/usr/bin/python3
"""The library's [yolo] heads through the Python package (regionloss.YoloPlan
and regionloss.torch.YoloLoss: the three heads of a YOLOv3 network in one
rl_yolo_compute) against a vectorised PyTorch autograd implementation of
the same loss (bench/torch_yolo_loss.py, forward plus backward), on batches
shaped like bench/workloads.c's yolo rows: YOLOv3 at 416 and 608 pixels,
16 images, 80 classes, 8 and 60 truths per image with COCO's spread of
sizes, NCHW float32, one thread.

    REGIONLOSS_LIBRARY=build-bench/src/libregionloss.so.1 \
        /usr/bin/python3 bench/torch_vs_yolo.py [--reps R] [--filter 608]

Timed, in one run, per image:
  torch       TorchYoloLoss forward + backward (what a PyTorch trainer writes)
  accumulate  YoloPlan(grad_mode="accumulate").compute(preds, rows, out=grads):
              the package's call with (M, 6) label rows and gradient buffers
              made once, as a trainer that owns its gradient calls it
  overwrite   the same in overwrite mode
  module      regionloss.torch.YoloLoss forward + backward (it always
              overwrites; autograd accumulates)
  bare        rl_yolo_compute through ctypes in accumulate mode, truths
              converted once: what the package's accumulate call wraps
Every repetition takes them in turn, so that all see the same load on a
shared machine; each library call (and module step) is timed after an
untimed call of its own (its steady state, as in a training loop; a
PyTorch step streams hundreds of MB and needs no such warm-up).  Clock:
the calling thread's CPU time (time.thread_time; torch.set_num_threads(1),
plans of one thread, so everything runs in that thread).  Reported: the
fastest of R (medians beside the targets).  Target (issue 22): the
library's accumulate call at least 50x faster than PyTorch per image on
the 608 rows.

Before timing, each row checks that the two compute the same loss: the
package's result (variant --check-variant, default auto) against
PyTorch's, relative difference at most 1e-4, the positive and negative
counts, and the gradients compared entry by entry (printed: the largest
difference over the largest entry, and how many entries differ by more
than 1e-3 of it: a slot whose best IoU is within float rounding of
ignore_thresh may be decided differently by the two).
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
from regionloss.torch import YoloLoss  # noqa: E402
from torch_yolo_loss import TorchYoloLoss  # noqa: E402

ANCHORS = [(10, 13), (16, 30), (33, 23), (30, 61), (62, 45), (59, 119), (116, 90), (156, 198),
           (373, 326)]
MASKS = [[6, 7, 8], [3, 4, 5], [0, 1, 2]]
C = 80
# name, network size, truths per image: bench/workloads.c's yolo rows (batch 16)
ROWS = [("yolo416-8", 416, 8), ("yolo416-60", 416, 60), ("yolo608-8", 608, 8),
        ("yolo608-60", 608, 60)]
N = 16


def yolo_plan(net, grad_mode="overwrite", variant="auto"):
    heads = [(net // s, net // s, m) for s, m in zip((32, 16, 8), MASKS)]
    return regionloss.YoloPlan(ANCHORS, C, heads, net, grad_mode=grad_mode, variant=variant)


class BareCall:
    """rl_yolo_compute in accumulate mode on a prepared batch (plan,
    workspace, gradient buffers, truths converted once), as a C trainer
    calls it; through the package's ctypes declarations (the call itself
    costs about a microsecond)."""

    def __init__(self, net, preds, rows):
        grids = [p.shape[2] for p in preds]
        self.masks = [(ctypes.c_int32 * 3)(*m) for m in MASKS]
        self.heads = (_lib.rl_yolo_head * 3)(*[_lib.rl_yolo_head(g, g, 3, ctypes.addressof(m))
                                               for g, m in zip(grids, self.masks)])
        self.anchors = (ctypes.c_float * 18)(*[v for a in ANCHORS for v in a])
        cfg = _lib.rl_yolo_config()
        _lib.yolo_config_init(ctypes.byref(cfg))
        cfg.n_heads, cfg.heads, cfg.C = 3, ctypes.addressof(self.heads), C
        cfg.n_anchors, cfg.anchors = 9, ctypes.addressof(self.anchors)
        cfg.net_w = cfg.net_h = net
        cfg.grad_mode = _lib.GRAD_MODES["accumulate"]
        self.plan = ctypes.c_void_p()
        _lib.check(_lib.yolo_plan_create(ctypes.byref(cfg), ctypes.byref(self.plan)))
        n = len(preds[0])
        self.rows = np.ascontiguousarray(rows, dtype=np.float32)
        self.boxes = (_lib.rl_box * max(len(rows), 1))()
        self.offsets = (ctypes.c_int64 * (n + 1))()
        _lib.check(_lib.truths_from_rows(self.rows.ctypes.data, len(self.rows), n,
                                         ctypes.addressof(self.boxes),
                                         ctypes.addressof(self.offsets)))
        self.grads = [np.zeros_like(p) for p in preds]
        ws = ctypes.c_size_t()
        _lib.check(_lib.yolo_workspace_size(self.plan, n, len(rows), ctypes.byref(ws)))
        self.ws = np.zeros(max(ws.value, 1), dtype=np.uint8)
        self.pred_ptrs = (ctypes.c_void_p * 3)(*[p.ctypes.data for p in preds])
        self.grad_ptrs = (ctypes.c_void_p * 3)(*[g.ctypes.data for g in self.grads])
        self.batch = _lib.rl_yolo_batch(n, ctypes.addressof(self.pred_ptrs),
                                        ctypes.addressof(self.boxes),
                                        ctypes.addressof(self.offsets), None,
                                        self.ws.ctypes.data, ws.value)
        self.result = _lib.rl_result()
        self.args = (self.plan, ctypes.byref(self.batch), ctypes.byref(self.result), None,
                     ctypes.addressof(self.grad_ptrs))
        self.preds = preds

    def __call__(self):
        _lib.check(_lib.yolo_compute(*self.args))

    def __del__(self):
        _lib.yolo_plan_destroy(self.plan)


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
    r, grads = yolo_plan(net, variant=variant).compute(preds, rows)
    rel = abs(loss.item() - r.loss) / abs(r.loss)
    worst, off = 0.0, 0
    for o, g in zip(outs, grads):
        d = np.abs(o.grad.numpy() - g)
        scale = float(np.abs(g).max())
        worst = max(worst, float(d.max()) / scale)
        off += int((d > 1e-3 * scale).sum())
    counts_ok = crit.last["n_obj"] == r.n_obj and crit.last["n_noobj"] == r.n_noobj
    note = "" if counts_ok else (f"; counts differ: torch n_obj {crit.last['n_obj']} n_noobj "
                                 f"{crit.last['n_noobj']}, library {r.n_obj} {r.n_noobj}")
    return rel, worst, off, r.variant, note


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
          "CPU time of the calling thread, fastest of the repetitions")
    print(f"load average {load0[0]:.2f} {load0[1]:.2f} {load0[2]:.2f} at start")
    print(f"{'row':11} {'torch':>10} {'accumulate':>10} {'overwrite':>10} {'module':>10} "
          f"{'bare':>10} {'torch/acc':>9} {'torch/over':>10} {'torch/mod':>9} {'pkg':>6}   "
          f"{'loss rel':>8} {'grad rel':>8} {'>1e-3':>5}  variant (check)")
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
        acc_plan, over_plan = yolo_plan(net, "accumulate"), yolo_plan(net)
        acc_out = [np.zeros_like(p) for p in preds]
        over_out = [np.zeros_like(p) for p in preds]
        module = YoloLoss(ANCHORS, C, MASKS, net)
        bare = BareCall(net, preds, rows)
        variant = []

        def torch_step():
            for o in outs:
                o.grad = None
            crit(outs, targets).backward()

        def acc():
            variant[:] = [acc_plan.compute(preds, rows, out=acc_out)[0].variant]

        def over():
            over_plan.compute(preds, rows, out=over_out)

        def module_step():
            for o in outs:
                o.grad = None
            module(outs, targets).backward()
        ts = interleaved([torch_step, acc, over, module_step, bare],
                         [False, True, True, True, True], a.reps, clock)
        best = [min(t) * 1e9 / N for t in ts]
        med = [statistics.median(t) * 1e9 / N for t in ts]
        print(f"{name:11} {best[0]:10.0f} {best[1]:10.0f} {best[2]:10.0f} {best[3]:10.0f} "
              f"{best[4]:10.0f} {best[0] / best[1]:8.1f}x {best[0] / best[2]:9.1f}x "
              f"{best[0] / best[3]:8.1f}x {100 * (best[1] / best[4] - 1):5.1f}%   {rel:8.1e} "
              f"{grel:8.1e} {off:5d}  {variant[0]} ({cvar}){note}", flush=True)
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
