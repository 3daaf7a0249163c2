"""One rank of tests/python/test_distributed.py (run as a separate process).

    dist_worker.py RANK WORLD INIT_FILE

Every rank builds the same seeded batches, computes each whole batch in its
own process with RegionLoss, then its own shard (uneven: images are dealt
5 + 4 for 2 ranks) with RegionLoss(distributed=True), and checks:
  * its gradient slice equals the whole batch's slice bit for bit;
  * every loss part, raw sum and count, all-reduced, equals the whole
    batch's: the reference to 1e-12 relative, other variants to the
    double-accumulation bound of tests/mpi/test_mpi_shards.c;
  * darknet's seen moves by the whole batch on every rank;
  * the same for bfloat16 and float16 outputs (issue 17), whose shards are
    counted and computed from the half tensors themselves;
  * per-shard normalisation would give another loss (the check is not vacuous).
Exits non-zero on the first failure, with the reason."""
import os
import sys

import numpy as np
import torch
import torch.distributed as dist

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from conftest import VOC_ANCHORS, rows  # noqa: E402
from dist_common import (check_per_shard_differs, fail, run, shard_rows,  # noqa: E402
                         sum_tolerance)
from regionloss.torch import RegionLoss  # noqa: E402

C = 20
N = 9
PARTS = ("loss", "coord", "cls", "obj", "noobj", "warmup", "sum_iou", "sum_obj", "sum_noobj",
         "sum_cls")
INTS = ("n_obj", "n_noobj", "n_conf", "n_truths", "n_recall50", "n_recall75")

CASES = [
    ("spec batch nchw reference", dict(variant="reference"), 6),
    ("spec batch nchw auto", dict(), 8),
    ("spec images nhwc auto", dict(layout="nhwc", norm="images"), 5),
    ("spec batch, shard 1 without truths", dict(), "rank0only"),
    ("darknet sum warm-up auto", dict(mode="darknet"), 7),
    ("darknet images logistic reference", dict(mode="darknet", norm="images",
                                               logistic_classes=True, rescore=False,
                                               variant="reference", seen=20000), 4),
    ("spec batch nchw bfloat16 reference", dict(variant="reference", dtype=torch.bfloat16), 6),
    ("darknet images float16 auto", dict(mode="darknet", norm="images",
                                         dtype=torch.float16), 5),
]


def make_batch(seed, layout, per_image):
    rng = np.random.default_rng(seed)
    out = rng.standard_normal((N, 5 * (5 + C), 13, 13)).astype(np.float32)
    out[:, 4::25] -= 3  # objectness mostly low, as in training
    if layout == "nhwc":
        out = np.ascontiguousarray(out.reshape(N, 5, 25, 13, 13).transpose(0, 3, 4, 1, 2)
                                   ).reshape(N, 13, 13, 125)
    if per_image == "rank0only":
        t = rows(rng, 5, 6, C)  # images 0..4 only: the second shard has no truth
    else:
        t = rows(rng, N, per_image, C)
    return out, t


def check_case(k, case, world, lo, hi):
    name, cfg, per_image = case
    cfg = dict(cfg)
    dtype = cfg.pop("dtype", torch.float32)
    out_np, t = make_batch(100 + k, cfg.get("layout", "nchw"), per_image)
    reference = cfg.get("variant") == "reference"

    whole = RegionLoss(VOC_ANCHORS, C, **cfg)
    x = torch.tensor(out_np, dtype=dtype, requires_grad=True)
    whole(x, torch.tensor(t)).backward()
    W = whole.last

    shard_t = shard_rows(t, lo, hi)
    crit = RegionLoss(VOC_ANCHORS, C, distributed=True, **cfg)
    xs = torch.tensor(out_np[lo:hi], dtype=dtype, requires_grad=True)
    crit(xs, torch.tensor(shard_t)).backward()
    S = crit.last

    if not torch.equal(xs.grad, x.grad[lo:hi]):
        d = (xs.grad - x.grad[lo:hi]).abs().max()
        fail(f"{name}: gradient slice differs from the whole batch's (max {d:.3g})")
    if cfg.get("mode") == "darknet" and crit.seen != whole.seen:
        fail(f"{name}: seen {crit.seen}, the single process has {whole.seen}")
    if crit.last_global_counts.n_images != N:
        fail(f"{name}: global n_images {crit.last_global_counts.n_images}")

    parts = torch.tensor([getattr(S, p) for p in PARTS] + [S.darknet.cost],
                         dtype=torch.float64)
    ints = torch.tensor([getattr(S, p) for p in INTS] + [S.darknet.count],
                        dtype=torch.int64)
    dist.all_reduce(parts)
    dist.all_reduce(ints)
    entries = out_np.size
    tol = sum_tolerance(reference, entries, world)
    for p, got in zip(PARTS + ("darknet.cost",), parts.tolist()):
        want = W.darknet.cost if p == "darknet.cost" else getattr(W, p)
        if abs(got - want) > tol * abs(want):
            fail(f"{name}: {p} all-reduced {got!r}, whole batch {want!r} (tol {tol:.3g})")
    for p, got in zip(INTS + ("darknet.count",), ints.tolist()):
        want = W.darknet.count if p == "darknet.count" else getattr(W, p)
        if got != want:
            fail(f"{name}: {p} all-reduced {got}, whole batch {want}")
    if W.n_obj == 0 or not x.grad.any():
        fail(f"{name}: vacuous case")

    if crit.config.get("norm", "batch") != "sum" and cfg.get("mode") != "darknet":
        own = RegionLoss(VOC_ANCHORS, C, **cfg)  # per-shard normalisation
        own(torch.tensor(out_np[lo:hi], dtype=dtype), torch.tensor(shard_t))
        check_per_shard_differs(name, own.last.loss, W.loss)
    return name, W, S


if __name__ == "__main__":
    run(CASES, N, check_case)
