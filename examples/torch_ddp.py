#!/usr/bin/python3
"""Data-parallel training with torch.distributed (gloo) and RegionLoss.

    /usr/bin/python3 examples/torch_ddp.py [--world 2] [--steps 50]
        starts --world ranks on this machine (each a process running
        --rank R), or run one rank yourself (torchrun-style launchers work
        too: init_process_group reads their environment when --init is
        not given):
    /usr/bin/python3 examples/torch_ddp.py --rank R --world W --init FILE

Each step every rank runs the network on its shard of the global batch and
calls RegionLoss(distributed=True): the counts of the whole batch are
all-reduced inside the call, so the rank's loss and gradient are its exact
part of the whole batch's (docs/data-parallel.md).  The batch's loss is
the sum of the ranks' losses; DistributedDataParallel averages gradients
over ranks, so each rank scales its loss by the world size before
backward, which makes the averaged gradient the whole batch's.
"""
import argparse
import os
import subprocess
import sys
import tempfile

import numpy as np
import torch
import torch.distributed as dist
from torch.nn.parallel import DistributedDataParallel

try:
    from regionloss.torch import RegionLoss  # installed, or on PYTHONPATH
except ImportError:  # the source tree's package, which loads build/
    sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "python"))
    from regionloss.torch import RegionLoss

ANCHORS = [(1.0, 1.0), (2.5, 2.0)]
C = 2
SIZE = 32           # images 32x32, grid 8x8
GLOBAL_BATCH = 8


def global_batch(step):
    """The step's whole batch (every rank draws the same; a real trainer's
    sampler hands each rank its own images)."""
    rng = np.random.default_rng(step)
    images = np.zeros((GLOBAL_BATCH, 3, SIZE, SIZE), dtype=np.float32)
    targets = []
    for k in range(GLOBAL_BATCH):
        w, h = rng.uniform(0.15, 0.5, 2)
        cx, cy = rng.uniform(w / 2, 1 - w / 2), rng.uniform(h / 2, 1 - h / 2)
        cls = int(rng.integers(C))
        images[k, cls, int((cy - h / 2) * SIZE):int((cy + h / 2) * SIZE),
               int((cx - w / 2) * SIZE):int((cx + w / 2) * SIZE)] = 1.0
        targets.append([k, cls, cx, cy, w, h])
    return images, np.array(targets)


def shard(images, targets, rank, world):
    """Contiguous images of this rank, and their targets with image indices
    re-based to the shard."""
    n = len(images)
    lo, hi = rank * n // world, (rank + 1) * n // world
    t = targets[(targets[:, 0] >= lo) & (targets[:, 0] < hi)].copy()
    t[:, 0] -= lo
    return torch.from_numpy(images[lo:hi]), torch.from_numpy(t)


def train(rank, world, init, steps):
    if init:
        dist.init_process_group("gloo", init_method=f"file://{init}", rank=rank,
                                world_size=world)
    else:
        dist.init_process_group("gloo")
    torch.manual_seed(0)  # the same initial weights on every rank
    net = torch.nn.Sequential(
        torch.nn.Conv2d(3, 16, 3, stride=2, padding=1), torch.nn.ReLU(),
        torch.nn.Conv2d(16, 32, 3, stride=2, padding=1), torch.nn.ReLU(),
        torch.nn.Conv2d(32, len(ANCHORS) * (5 + C), 1))
    model = DistributedDataParallel(net)
    crit = RegionLoss(ANCHORS, C, distributed=True)
    opt = torch.optim.Adam(model.parameters(), lr=3e-3)
    for step in range(steps):
        images, targets = shard(*global_batch(step), rank, world)
        loss = crit(model(images), targets)          # this shard's part of the batch loss
        opt.zero_grad()
        (loss * world).backward()                    # DDP averages: undo it
        opt.step()
        total = torch.tensor([crit.last.loss], dtype=torch.float64)
        dist.all_reduce(total)                       # the whole batch's loss, for the log
        if rank == 0 and (step % 10 == 0 or step == steps - 1):
            print(f"step {step}: loss {float(total):.5f}", flush=True)
    # DDP keeps the replicas identical; check it, as a smoke test of the wiring.
    flat = torch.cat([p.detach().reshape(-1) for p in net.parameters()])
    spread = flat.clone()
    dist.all_reduce(spread, op=dist.ReduceOp.MAX)
    same = torch.equal(spread, flat)
    agree = torch.tensor([1 if same else 0])
    dist.all_reduce(agree, op=dist.ReduceOp.MIN)
    if rank == 0:
        print("parameters " + ("equal on both ranks" if world == 2 else "equal on all ranks")
              if int(agree) else "parameters DIFFER between ranks", flush=True)
    dist.destroy_process_group()
    return 0 if int(agree) else 1


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--world", type=int, default=2)
    ap.add_argument("--rank", type=int)
    ap.add_argument("--init", help="file for init_method=file:// (shared by the ranks)")
    ap.add_argument("--steps", type=int, default=50)
    a = ap.parse_args()
    if a.rank is not None:
        return train(a.rank, a.world, a.init, a.steps)
    # Start the ranks: one process each, meeting through a file, loopback only.
    with tempfile.TemporaryDirectory() as d:
        env = dict(os.environ, GLOO_SOCKET_IFNAME="lo")
        procs = [subprocess.Popen([sys.executable, os.path.abspath(__file__), "--rank", str(r),
                                   "--world", str(a.world), "--init", os.path.join(d, "init"),
                                   "--steps", str(a.steps)], env=env)
                 for r in range(a.world)]
        return max(p.wait() for p in procs)


if __name__ == "__main__":
    sys.exit(main())
