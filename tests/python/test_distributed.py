"""Data parallelism with torch.distributed (gloo): two processes on this
machine, each computing its shard with the all-reduced global counts, must
reproduce the single-process loss and gradient (tests/python/dist_worker.py
does the checking; docs/data-parallel.md the reasoning), for RegionLoss and
for the [yolo] heads' YoloLoss (yolo_dist_worker.py).  Also runs the
example, examples/torch_ddp.py, for a few steps."""
import os
import subprocess
import sys

from conftest import SOURCE_ROOT, need_torch

torch = need_torch()
import torch.distributed as dist  # noqa: E402


def env():
    e = dict(os.environ)
    e["GLOO_SOCKET_IFNAME"] = "lo"  # loopback only: nothing leaves the machine
    e["OMP_NUM_THREADS"] = "1"
    return e


def run_ranks(argv_of_rank, world, timeout=180):
    procs = [subprocess.Popen(argv_of_rank(r), env=env(), stdout=subprocess.PIPE,
                              stderr=subprocess.STDOUT, text=True) for r in range(world)]
    outs = []
    try:
        for p in procs:
            outs.append(p.communicate(timeout=timeout)[0])
    finally:
        for p in procs:
            if p.poll() is None:
                p.kill()
    for r, (p, o) in enumerate(zip(procs, outs)):
        assert p.returncode == 0, f"rank {r} exited {p.returncode}:\n{o}"
    return outs


def run_worker(tmp_path, script, n_cases):
    """Runs the worker script on two gloo ranks; each must pass n_cases."""
    if not dist.is_available() or not dist.is_gloo_available():
        import pytest
        pytest.skip("this torch has no gloo backend")
    worker = os.path.join(os.path.dirname(os.path.abspath(__file__)), script)
    init = str(tmp_path / "init")
    outs = run_ranks(lambda r: [sys.executable, worker, str(r), "2", init], 2)
    for r, o in enumerate(outs):
        print(o)
        assert f"rank {r}: {n_cases} cases passed" in o


def test_two_ranks_equal_the_single_process_run(tmp_path):
    run_worker(tmp_path, "dist_worker.py", 8)


def test_yolo_two_ranks_equal_the_single_process_run(tmp_path):
    run_worker(tmp_path, "yolo_dist_worker.py", 6)


def test_the_example_trains_with_ddp(tmp_path):
    example = os.path.join(SOURCE_ROOT, "examples", "torch_ddp.py")
    init = str(tmp_path / "init")
    outs = run_ranks(lambda r: [sys.executable, example, "--rank", str(r), "--world", "2",
                                "--init", init, "--steps", "20"], 2)
    assert "loss" in outs[0] and "equal on both ranks" in outs[0], outs[0]
