"""One rank of test_distributed.py's [yolo] test (run as a separate process).

    yolo_dist_worker.py RANK WORLD INIT_FILE

Every rank builds the same seeded three-head batches (9 images), computes
each whole batch in its own process with YoloLoss, then its own shard
(uneven: 5 + 4 images for 2 ranks) with YoloLoss(distributed=True), and
checks:
  * every head's gradient slice equals the whole batch's slice bit for bit;
  * every loss part, raw sum, count and darknet statistic (as sums: the
    averages times their counts) of every head and of the total,
    all-reduced, equals the whole batch's: the reference to 1e-12
    relative, other variants to the double-accumulation bound of
    tests/mpi/test_mpi_shards.c;
  * norm images all-reduces the image count (last_global_counts), norm sum
    needs nothing (None);
  * bfloat16 and float16 outputs, a shard without truths, truth_thresh;
  * per-shard normalisation would give another loss (not vacuous).
Exits non-zero on the first failure, with the reason."""
import os
import sys

import numpy as np
import torch
import torch.distributed as dist

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import yolo_oracle as yo  # noqa: E402
from dist_common import (check_per_shard_differs, fail, run, shard_bounds,  # noqa: E402
                         shard_rows, sum_tolerance)
from regionloss.torch import YoloLoss  # noqa: E402

N = 9
PARTS = ("loss", "coord", "cls", "obj", "noobj", "sum_iou", "sum_obj", "sum_noobj", "sum_cls")
INTS = ("n_obj", "n_noobj", "n_conf", "n_truths", "n_recall50", "n_recall75")

CASES = [
    ("images nchw auto", dict(), "nchw", "images", (0.7, 1.0)),
    ("sum nhwc auto", dict(), "nhwc", "sum", (0.5, 1.0)),
    ("images, truth_thresh, shard 1 without truths", dict(), "nchw", "images", (0.4, 0.7)),
    ("images bfloat16 auto", dict(dtype=torch.bfloat16), "nchw", "images", (0.7, 1.0)),
    ("sum float16 generic", dict(dtype=torch.float16, variant="generic"), "nhwc", "sum",
     (0.5, 1.0)),
    ("images reference", dict(variant="reference"), "nchw", "images", (0.45, 0.8)),
]


def additive(r, slots):
    """What adds up over shards: parts, raw sums, darknet's averages as sums."""
    c = r.darknet.count
    d = r.darknet
    return ([getattr(r, p) for p in PARTS]
            + [d.avg_iou * c, d.recall * c, d.recall75 * c, d.avg_obj * c, d.avg_cls * c,
               d.avg_anyobj * slots, d.cost],
            [getattr(r, p) for p in INTS] + [c])


NAMES = PARTS + ("darknet.avg_iou*count", "darknet.recall*count", "darknet.recall75*count",
                 "darknet.avg_obj*count", "darknet.avg_cls*count", "darknet.avg_anyobj*slots",
                 "darknet.cost")


def check_case(k, case, world, lo, hi):
    name, cfg, layout, norm, th = case
    cfg = dict(cfg)
    dtype = cfg.pop("dtype", torch.float32)
    case = yo.random_case(200 + k, layout, norm, heads=3, n_images=N, thresholds=th)
    if "without truths" in name:
        for n in range(shard_bounds(1, world, N)[0], N):
            case.truths[n] = case.truths[n][:0]
    preds = case.preds()
    t = case.target_rows()
    masks = [m for _, _, m in case.heads]
    args, kw = case.plan_args()
    kw.update(cfg)

    whole = YoloLoss(case.anchors, case.C, masks, case.net, **kw)
    xs = [torch.tensor(p, dtype=dtype, requires_grad=True) for p in preds]
    whole(xs, torch.tensor(t)).backward()
    W = whole.last

    shard_t = shard_rows(t, lo, hi)
    crit = YoloLoss(case.anchors, case.C, masks, case.net, distributed=True, **kw)
    ss = [torch.tensor(p[lo:hi], dtype=dtype, requires_grad=True) for p in preds]
    crit(ss, torch.tensor(shard_t)).backward()
    S = crit.last

    for h, (a, b) in enumerate(zip(ss, xs)):
        if not torch.equal(a.grad, b.grad[lo:hi]):
            d = (a.grad.double() - b.grad[lo:hi].double()).abs().max()
            fail(f"{name}: head {h}: gradient slice differs from the whole batch's "
                 f"(max {d:.3g})")
    if norm == "images":
        if crit.last_global_counts.n_images != N:
            fail(f"{name}: global n_images {crit.last_global_counts}")
    elif crit.last_global_counts is not None:
        fail(f"{name}: norm sum communicated {crit.last_global_counts}")

    entries = sum(p.size for p in preds)
    tol = sum_tolerance(cfg.get("variant") == "reference", entries, world)
    slots = [N * H * W_ * len(m) for H, W_, m in case.heads]
    for what, mine, ref, sl in ([("total", S, W, sum(slots))] +
                                [(f"head {h}", S.heads[h], W.heads[h], slots[h])
                                 for h in range(len(slots))]):
        dv, iv = additive(mine, sl * (hi - lo) / N)
        dw, iw = additive(ref, sl)
        dt = torch.tensor(dv, dtype=torch.float64)
        it = torch.tensor(iv, dtype=torch.int64)
        dist.all_reduce(dt)
        dist.all_reduce(it)
        for p, got, want in zip(NAMES, dt.tolist(), dw):
            if abs(got - want) > tol * abs(want) + 1e-300:
                fail(f"{name}: {what}: {p} all-reduced {got!r}, whole batch {want!r} "
                     f"(tol {tol:.3g})")
        for p, got, want in zip(INTS + ("darknet.count",), it.tolist(), iw):
            if got != want:
                fail(f"{name}: {what}: {p} all-reduced {got}, whole batch {want}")
    if W.n_obj == 0 or not all(x.grad.any() for x in xs):
        fail(f"{name}: vacuous case")
    if norm == "images":
        own = YoloLoss(case.anchors, case.C, masks, case.net, **kw)  # per-shard images
        own([torch.tensor(p[lo:hi], dtype=dtype) for p in preds], torch.tensor(shard_t))
        check_per_shard_differs(name, own.last.loss, W.loss)
    return name, W, S


if __name__ == "__main__":
    run(CASES, N, check_case)
