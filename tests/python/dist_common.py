"""What the two ranks' workers of test_distributed.py share (dist_worker.py
for RegionLoss, yolo_dist_worker.py for YoloLoss): the shards, the failure,
the tolerance of an all-reduced sum and the run of every case."""
import sys

import torch
import torch.distributed as dist


def shard_bounds(rank, world, n):
    """[lo, hi) of rank's images: n dealt unevenly, the first ranks one more."""
    sizes = [n // world + (1 if r < n % world else 0) for r in range(world)]
    lo = sum(sizes[:rank])
    return lo, lo + sizes[rank]


def shard_rows(t, lo, hi):
    """The target rows of images [lo, hi), renumbered from 0."""
    shard_t = t[(t[:, 0] >= lo) & (t[:, 0] < hi)].copy()
    shard_t[:, 0] -= lo
    return shard_t


def fail(msg):
    raise SystemExit(f"rank {dist.get_rank()}: {msg}")


def sum_tolerance(reference, entries, world):
    """Relative bound on an all-reduced sum against the whole batch's: the
    reference to 1e-12, other variants the double-accumulation bound of
    tests/mpi/test_mpi_shards.c."""
    return 1e-12 if reference else (2.0 * (entries - 1) + world) * 2.0 ** -53


def check_per_shard_differs(name, own_loss, whole_loss):
    """Fails unless the all-reduced per-shard-normalised loss differs from
    the whole batch's (else the case is vacuous)."""
    per = torch.tensor([own_loss], dtype=torch.float64)
    dist.all_reduce(per)
    if abs(float(per) - whole_loss) <= 1e-6 * whole_loss:
        fail(f"{name}: per-shard normalisation gives the same loss: vacuous")


def run(cases, n, check_case):
    """The worker's main: RANK WORLD INIT_FILE from argv, the gloo group,
    then check_case(k, case, world, lo, hi) for every case, which returns
    (name, whole batch's result, shard's result) or fails."""
    rank, world, init = int(sys.argv[1]), int(sys.argv[2]), sys.argv[3]
    dist.init_process_group("gloo", init_method=f"file://{init}", rank=rank, world_size=world)
    torch.set_num_threads(1)
    lo, hi = shard_bounds(rank, world, n)
    checks = 0
    for k, case in enumerate(cases):
        name, W, S = check_case(k, case, world, lo, hi)
        checks += 1
        print(f"rank {rank}: {name}: images [{lo}, {hi}), loss {W.loss:.10g}, "
              f"n_obj {W.n_obj}, variant {S.variant}: equal", flush=True)
    dist.barrier()
    dist.destroy_process_group()
    print(f"rank {rank}: {checks} cases passed", flush=True)
