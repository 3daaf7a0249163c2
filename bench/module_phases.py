#!/usr/bin/python3
"""Where RegionLoss's time goes in a training step, phase by phase.

    /usr/bin/python3 bench/module_phases.py [--reps R] [--filter voc-2]

Replays regionloss.torch.RegionLoss.forward's path for an (M, 6) float32
target tensor (the fast path; keep this in step with torch.py) with a
clock between the steps, then backward, on bench/torch_vs_regionloss.py's
rows at 1 thread, each step preceded by the bare rl_truths_from_rows +
rl_compute call (timed too), so every phase runs in the cache state a
real step leaves behind.  Each figure is the fastest of R (thread CPU
time); docs/performance.md, "Where the module's time goes", has them.
"""
import argparse
import ctypes
import os
import sys
import time

import torch

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
import torch_vs_regionloss as B  # noqa: E402
from regionloss import _lib  # noqa: E402
from regionloss.torch import _HandOn, _loss_tensor  # noqa: E402

PHASES = ["zero_grad (out.grad = None)", "checks (output, plan, targets)", "gradient buffer",
          "targets -> rl_box + rl_batch (rl_truths_from_rows)", "result struct, pointers",
          "rl_compute", "loss tensor", "Function.apply", "loss.backward()"]


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--reps", type=int, default=40)
    ap.add_argument("--filter", default="")
    a = ap.parse_args()
    torch.set_num_threads(1)
    clock = time.thread_time
    print(f"fastest of {a.reps}, microseconds of thread CPU time")
    print(f"{'phase':52} " + " ".join(f"{r[0]:>9}" for r in B.ROWS if a.filter in r[0]))
    cols = []
    for row in B.ROWS:
        if a.filter not in row[0]:
            continue
        pred, rows = B.make_batch(row)
        _, crit, out = B.module_step(row, pred, rows, 1)
        bare = B.bare_call(row, out.detach().numpy(), rows, "auto", convert=True)
        t = torch.tensor(rows)

        def step():
            c = [clock()]
            out.grad = None
            c.append(clock())
            plan, n = crit._prepared(out)
            assert (t.is_cpu and t.dtype is torch.float32 and t.dim() == 2
                    and t.shape[1] == 6 and t.is_contiguous() and t.data_ptr() % 4 == 0)
            assert crit.training and torch.is_grad_enabled() and out.requires_grad
            c.append(clock())
            grad, buf = crit._grad_tensor(out)
            c.append(clock())
            code, bp = plan._fill_rows(out.data_ptr(), n, t.data_ptr(), t.shape[0], None, None)
            _lib.check(code)
            c.append(clock())
            r = _lib.rl_result()
            rp, gp, h = ctypes.byref(r), grad.data_ptr(), plan._live()
            c.append(clock())
            _lib.check(_lib.compute(h, bp, rp, gp))
            c.append(clock())
            crit._grad_buf, crit._last = buf, r
            loss = _loss_tensor(r.loss)
            c.append(clock())
            loss = _HandOn.apply(out, loss, grad)
            del grad, buf
            c.append(clock())
            loss.backward()
            c.append(clock())
            return [c[i + 1] - c[i] for i in range(len(c) - 1)]

        step(), bare()
        ts, tb = [[] for _ in PHASES], []
        for _ in range(a.reps):
            t0 = clock()
            bare()
            tb.append(clock() - t0)
            for x, d in zip(ts, step()):
                x.append(d)
        col = [min(x) * 1e6 for x in ts]
        cols.append(col + [sum(col) - col[5], min(tb) * 1e6])
    for i, name in enumerate(PHASES + ["all but rl_compute", "bare rows + rl_compute call"]):
        print(f"{name:52} " + " ".join(f"{c[i]:9.0f}" for c in cols))
    return 0


if __name__ == "__main__":
    sys.exit(main())
