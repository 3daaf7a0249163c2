#!/usr/bin/python3
"""regionloss.torch.RegionLoss against a vectorised PyTorch autograd
implementation of the same loss (bench/torch_region_loss.py), forward plus
backward, on batches shaped like bench/workloads.c's voc and coco rows
(64 images), at 1 thread and at all threads; and the binding's overhead:
the module's forward + backward against the bare C call on the same batch,
both rl_compute alone (truths converted once, before timing) and
rl_truths_from_rows + rl_compute (the per-step work of a C trainer whose
loader gives (M, 6) label rows, as the module's caller's does).  All three
are timed in turn, same clock, same number of calls, each timed call after
an untimed one of its own (paired_best).

    /usr/bin/python3 bench/torch_vs_regionloss.py [--reps R] [--filter voc] [--one-thread]

Run from the repository after `bash scripts/demo.sh` (the package loads
build/src/libregionloss.so.1), or with the package installed.  Each time is
the fastest of R repetitions after a warm-up (the least disturbed by other
load on a shared machine): at 1 thread the calling thread's CPU time
(time.thread_time: everything runs in it, and waiting for a core is not
counted), at all threads wall time.  The ratio is PyTorch's time over
RegionLoss's.  Targets (issue 15): >= 30x at 1 thread on every row; the
binding's overhead < 5% at batch 64.  docs/performance.md has the figures.
"""
import argparse
import ctypes
import os
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
from regionloss.torch import RegionLoss  # noqa: E402
from torch_region_loss import TorchRegionLoss  # noqa: E402

VOC = [(1.3221, 1.73145), (3.19275, 4.00944), (5.05587, 8.09892), (9.47112, 4.84053),
       (11.2364, 10.0071)]
COCO = [(0.57273, 0.677385), (1.87446, 2.06253), (3.33843, 5.47434), (7.88282, 3.52778),
        (9.77052, 9.16828)]
# name, N, H, W, C, truths per image, anchors: bench/workloads.c's voc and coco rows
ROWS = [("voc-2", 64, 13, 13, 20, 2, VOC), ("voc-8", 64, 13, 13, 20, 8, VOC),
        ("voc-30", 64, 13, 13, 20, 30, VOC), ("coco13-8", 64, 13, 13, 80, 8, COCO),
        ("coco13-30", 64, 13, 13, 80, 30, COCO), ("coco19-8", 64, 19, 19, 80, 8, COCO),
        ("coco19-30", 64, 19, 19, 80, 30, COCO)]


def make_batch(row, seed=7):
    """Inputs like workloads.c's: a half-trained detector's outputs (low
    objectness, moderate offsets) and truths spread over the image, sizes
    log-uniform from 3% to 80%, half of them nearly learnt."""
    name, N, H, W, C, per, anchors = row
    rng = np.random.default_rng(seed)
    B, K = len(anchors), 5 + C
    p = np.empty((N, B, K, H, W), dtype=np.float32)
    p[:, :, 0:2] = rng.uniform(-2, 2, (N, B, 2, H, W))
    p[:, :, 2:4] = rng.uniform(-1, 1, (N, B, 2, H, W))
    p[:, :, 4] = rng.uniform(-7, 1, (N, B, H, W))
    p[:, :, 5:] = rng.uniform(-4, 4, (N, B, C, H, W))
    rows = []
    for n in range(N):
        for _ in range(per):
            cx, cy = rng.uniform(0, 1, 2)
            w, h = np.exp(rng.uniform(np.log(0.03), np.log(0.8), 2))
            c = int(rng.integers(C))
            rows.append([n, c, cx, cy, w, h])
            if rng.uniform() < 0.5:  # this truth's slot has nearly learnt its box
                j, i = min(int(cx * W), W - 1), min(int(cy * H), H - 1)
                for b, (aw, ah) in enumerate(anchors):
                    p[n, b, 2, i, j] = np.log(w * W / aw) + rng.uniform(-0.2, 0.2)
                    p[n, b, 3, i, j] = np.log(h * H / ah) + rng.uniform(-0.2, 0.2)
                    p[n, b, 4, i, j] = rng.uniform(-1, 3)
    return p.reshape(N, B * K, H, W), np.array(rows, dtype=np.float32)


def best_time(fn, reps, clock):
    fn()  # warm-up: plans, workspaces, allocator
    ts = []
    for _ in range(reps):
        t0 = clock()
        fn()
        ts.append(clock() - t0)
    return min(ts)


def time_torch(row, pred, rows, reps, clock):
    crit = TorchRegionLoss(row[6], row[4])
    out = torch.tensor(pred, requires_grad=True)
    t = torch.tensor(rows)

    def step():
        out.grad = None
        crit(out, t).backward()
    return best_time(step, reps, clock), crit(out, t).item()


def module_step(row, pred, rows, threads):
    """One training step's loss work as a PyTorch user runs it: the module
    on the network's output (a leaf here) and (M, 6) targets, then backward."""
    crit = RegionLoss(row[6], row[4], threads=threads)
    out = torch.tensor(pred, requires_grad=True)
    t = torch.tensor(rows)

    def step():
        out.grad = None
        crit(out, t).backward()
    return step, crit, out


def bare_call(row, pred, rows, variant, convert=False):
    """rl_compute on a prepared batch (gradient buffer and workspace
    allocated once), as a C trainer calls it; through ctypes, whose call
    costs about a microsecond.  convert=False: the truths were converted
    once, before timing (rl_compute alone).  convert=True: each call first
    converts the (M, 6) float32 rows with rl_truths_from_rows, as a C
    trainer whose loader gives label rows must (the module must too).
    pred should be the very memory the module reads (reading a torch
    allocation and a numpy one of the same values differ by several
    percent here: pages, alignment)."""
    plan = regionloss.Plan(row[6], row[4], (row[2], row[3]), variant=variant)
    targets = regionloss.Targets.from_rows(rows, len(pred))
    grad = np.empty_like(pred)
    bp, keep = plan._batch(pred, targets, None, None)
    res = _lib.rl_result()
    rp, gp = ctypes.byref(res), grad.ctypes.data
    src = np.ascontiguousarray(rows, dtype=np.float32)
    boxes, offs = np.empty_like(targets.boxes), np.empty_like(targets.offsets)
    args = (src.ctypes.data, len(src), len(pred), boxes.ctypes.data, offs.ctypes.data)
    if convert:  # the batch reads the truths the call converts
        bp._obj.truths, bp._obj.truth_offsets = args[3], args[4]

        def call():
            _lib.check(_lib.truths_from_rows(*args))
            _lib.check(_lib.compute(plan._handle, bp, rp, gp))
    else:
        def call():
            _lib.check(_lib.compute(plan._handle, bp, rp, gp))
    call.keep = (plan, targets, grad, bp, keep, res, src, boxes, offs)
    return call


def paired_best(fns, reps, clock):
    """Fastest of reps for each function, the functions taken in turn so
    that all see the same load on a shared machine; same clock, same
    number of calls.  Each timed call follows an untimed call of the same
    function, so each is timed in its own steady state (as in a training
    loop, where the step before was the same step), not in the cache
    state the other left: a module step right after a bare call finds
    torch's and the interpreter's working sets evicted by the bare call's
    5-39 MB, which a step after a step does not."""
    ts = [[] for _ in fns]
    for _ in range(reps):
        for f, t in zip(fns, ts):
            f()
            t0 = clock()
            f()
            t.append(clock() - t0)
    return [min(t) for t in ts]


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--reps", type=int, default=20)
    ap.add_argument("--filter", default="")
    ap.add_argument("--one-thread", action="store_true", help="skip the all-threads rows")
    a = ap.parse_args()
    all_threads = 1 if a.one_thread else (os.cpu_count() or 1)
    worst = 0.0
    print(f"regionloss {regionloss.version()} ({regionloss.library_path}), torch "
          f"{torch.__version__}, {all_threads} threads, fastest of {a.reps} "
          "(1 thread: CPU time of the calling thread; all threads: wall time)")
    print("overhead: the module's step against the bare rl_compute (truths converted "
          "once, untimed) and, after /, against rl_truths_from_rows + rl_compute per call")
    print(f"{'row':10} {'thr':>3} {'torch ms':>9} {'module ms':>9} {'ratio':>7}   "
          f"{'bare C ms':>9} {'overhead':>8} {'us':>6} / {'+rows ms':>8} {'overhead':>8} "
          f"{'us':>5}   {'loss rel diff':>13}  variant")
    for row in ROWS:
        if a.filter not in row[0]:
            continue
        pred, rows = make_batch(row)
        for threads in (1, all_threads) if all_threads > 1 else (1,):
            torch.set_num_threads(threads)
            clock = time.thread_time if threads == 1 else time.perf_counter
            t_torch, torch_loss = time_torch(row, pred, rows, max(3, a.reps // 3), clock)
            step, crit, out = module_step(row, pred, rows, threads)
            if threads == 1:
                bare = bare_call(row, out.detach().numpy(), rows, "auto")
                bare_rows = bare_call(row, out.detach().numpy(), rows, "auto", convert=True)
                t_mod, t_bare, t_rows = paired_best((step, bare, bare_rows), a.reps, clock)
                extra = (f"{t_bare * 1e3:9.3f} {100 * (t_mod / t_bare - 1):7.1f}% "
                         f"{(t_mod - t_bare) * 1e6:6.0f} / {t_rows * 1e3:8.3f} "
                         f"{100 * (t_mod / t_rows - 1):7.1f}% {(t_mod - t_rows) * 1e6:5.0f}")
            else:
                t_mod = best_time(step, a.reps, clock)
                extra = f"{'':9} {'':8} {'':6}   {'':8} {'':8} {'':5}"
            diff = abs(torch_loss - crit.last.loss) / abs(crit.last.loss)
            worst = max(worst, diff)
            print(f"{row[0]:10} {threads:3d} {t_torch * 1e3:9.2f} {t_mod * 1e3:9.3f} "
                  f"{t_torch / t_mod:6.1f}x   {extra}   {diff:13.2e}  {crit.last.variant}",
                  flush=True)
    # Both compute docs/loss.md's loss; the PyTorch one in float32 throughout.
    if worst > 1e-4:
        print(f"the two losses differ by {worst:.3g} relative: not the same loss", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
