"""regionloss.torch.RegionLoss: the library as a PyTorch loss module.

    crit = RegionLoss(anchors, num_classes=20)           # same options as Plan
    loss = crit(output, targets)    # output (N, B*(5+C), H, W) on the CPU: float32,
                                    # or bfloat16 / float16 (autocast), read as they are
    loss.backward()                 # the library's gradient times grad_output
    crit.last                       # Result of the last call

The forward call computes the loss and, when a gradient is wanted, the
gradient in the same library call; backward only hands it on.  The output
tensor is read in place (no copy).  docs/python.md has the details.
"""

import ctypes
import sys
import threading

import numpy as np
import torch

from . import _lib
from ._plan import Plan, _torch_codes
from ._result import Counts, Result
from ._targets import Targets


# The numpy dtype of the buffer a gradient of each output dtype is written into.
_NP_GRAD = {torch.float32: np.dtype(np.float32), torch.float16: np.dtype(np.float16),
            torch.bfloat16: np.dtype(np.int16)}


class _HandOn(torch.autograd.Function):
    """Attaches a gradient computed in forward to the returned loss."""

    @staticmethod
    def forward(ctx, output, loss, grad):
        ctx.grad = grad
        return loss

    @staticmethod
    @torch.autograd.function.once_differentiable
    def backward(ctx, grad_output):
        grad = ctx.grad
        del ctx.grad  # the engine can take the tensor over without a copy
        # loss.backward() passes exactly 1 (.item() reads the 0-d tensor
        # without launching a comparison kernel)
        if grad_output.item() != 1.0:
            grad = grad * grad_output
        return grad, None, None


class RegionLoss(torch.nn.Module):
    """The YOLOv2 region loss as an nn.Module over regionloss.Plan.

    RegionLoss(anchors, num_classes, *, layout="nchw", mode="spec",
               lambda_*, thresh, norm, threads=1, variant="auto", rescore,
               logistic_classes, warmup_seen, warmup_scale, seen=0,
               distributed=False, process_group=None)

    The grid is read from each output tensor (a plan per grid size is kept).
    Output: float32, bfloat16 or float16 (what torch.autocast gives), CPU,
    contiguous, (N, B*(5+C), H, W) for nchw or (N, H, W, B*(5+C)) for nhwc
    (5-D (.., B, 5+C, ..) forms too); anything else raises
    TypeError/ValueError saying how to convert.  A half output is read as
    it is and its gradient is in its type, rounded once to nearest even;
    the loss is a float32 tensor whatever the output's type.  Targets: an
    (M, 6) tensor or array ``image, class, cx, cy, w, h``, a list of
    per-image (T, 5) ``class, cx, cy, w, h``, or regionloss.Targets.

    Darknet mode keeps ``seen`` as darknet does: each forward in training
    mode adds the batch's images (the whole batch's, when distributed)
    before computing; set ``crit.seen`` to resume.  In eval mode the loss is
    computed without a gradient and seen is left alone.

    distributed=True (torch.distributed initialised): this rank's output is
    its shard of the batch; the counts are all-reduced so that the loss and
    the gradient are this shard's exact part of the whole batch's
    (docs/data-parallel.md).  The returned loss is the shard's part: the
    batch's loss is the sum over ranks."""

    def __init__(self, anchors, num_classes, *, grad_mode="overwrite", seen=0,
                 distributed=False, process_group=None, **config):
        super().__init__()
        if grad_mode != "overwrite":
            raise ValueError(f"grad_mode = {grad_mode!r}: the module always overwrites "
                             "(autograd does the accumulating)")
        if "grid" in config:
            raise TypeError("RegionLoss reads the grid from the output tensor; no grid=")
        if config.get("grad_dtype") is not None:
            raise ValueError("grad_dtype: the module's gradient is in the output's type "
                             "(autograd would round a float32 one to it again); use "
                             "regionloss.Plan for a float32 gradient of a half tensor")
        self.anchors = anchors
        self.num_classes = num_classes
        self.config = dict(config)
        self.mode = config.get("mode", "spec")
        self.layout = config.get("layout", "nchw")
        self.seen = int(seen)
        self.distributed = bool(distributed)
        self.process_group = process_group
        self.last = None
        self.last_global_counts = None
        self._plans = {}
        self._shapes = {}             # (shape, dtype) -> (plan, N, handle): validated once
        self._grad_buf = None         # see _grad_tensor
        self._grad_lock = threading.Lock()
        # Validate the configuration now, not at the first batch.
        self._plan(1, 1)

    def _plan(self, H, W):
        plan = self._plans.get((H, W))
        if plan is None:
            plan = Plan(self.anchors, self.num_classes, (H, W), **self.config)
            self._plans[(H, W)] = plan
        return plan

    def extra_repr(self):
        return (f"B={len(self._plan(1, 1)._anchors)}, C={self.num_classes}, "
                f"layout={self.layout!r}, mode={self.mode!r}, seen={self.seen}")

    def _grid(self, output):
        if self.layout == "nchw":
            if output.dim() == 4:
                return output.shape[2], output.shape[3]
            if output.dim() == 5:
                return output.shape[3], output.shape[4]
        elif output.dim() in (4, 5):
            return output.shape[1], output.shape[2]
        raise ValueError(f"output: shape {tuple(output.shape)}; a {self.layout} tensor of 4 "
                         "(or 5) dimensions expected")

    def _check(self, output):
        if not isinstance(output, torch.Tensor):
            raise TypeError(f"output: a torch.Tensor expected, got {type(output).__name__}")
        if output.device.type != "cpu":
            raise ValueError(f"output: on {output.device}; the library computes on the CPU: "
                             "pass output.cpu() (autograd carries the gradient back)")
        if output.dtype not in _torch_codes():
            raise TypeError(f"output: dtype {output.dtype}; the library reads float32, "
                            "bfloat16 or float16: pass output.float() (autograd carries the "
                            "gradient back)")
        if not output.is_contiguous():
            raise ValueError(f"output: not contiguous (strides {output.stride()}); the "
                             "library reads it in place: pass output.contiguous()")

    def _prepared(self, output):
        """(plan, N) for an output tensor the library can read in place.
        Type, device, dtype, contiguity and alignment are checked on every
        call (a few attribute reads); the shape against the plan once per
        shape and dtype.  A bad tensor gets _check's or check_shape's
        message."""
        return self._prepared_typed(output)[:2]

    def _prepared_typed(self, output):
        """_prepared's (plan, N) and the library plan for the output's dtype."""
        codes = _torch_codes()
        if not (isinstance(output, torch.Tensor) and output.is_cpu
                and output.dtype in codes and output.is_contiguous()
                and output.data_ptr() % output.element_size() == 0):
            self._check(output)
            # what _check passes but the test above does not: the alignment
            raise ValueError(f"output: data at {output.data_ptr():#x} is not aligned to "
                             f"{output.dtype}; pass output.clone()")
        key = (output.shape, output.dtype)
        hit = self._shapes.get(key)
        if hit is None:
            plan = self._plan(*self._grid(output))
            hit = (plan, plan.check_shape(output.shape, "output"),
                   plan._handle_for(codes[output.dtype]))
            self._shapes[key] = hit
        return hit

    @property
    def last(self):
        """The last call's Result (converted from the library's struct when
        first read, not on every call)."""
        r = self._last
        if isinstance(r, _lib.rl_result):
            r = self._last = Result._from_c(r)
        return r

    @last.setter
    def last(self, value):
        self._last = value

    def _targets(self, targets, n):
        if isinstance(targets, torch.Tensor):
            if targets.device.type != "cpu":
                raise ValueError(f"targets: on {targets.device}; CPU expected (targets.cpu())")
            targets = targets.detach().numpy()
        elif isinstance(targets, (list, tuple)):
            targets = [t.detach().cpu().numpy() if isinstance(t, torch.Tensor) else t
                       for t in targets]
        if isinstance(targets, Targets):
            return targets
        if isinstance(targets, list):
            return Targets.from_list(targets)
        return Targets.from_rows(targets, n)

    def forward(self, output, targets):
        plan, n, handle = self._prepared_typed(output)
        # An (M, 6) float32 CPU tensor, contiguous (what a loader's collate
        # gives): converted by the library straight from its memory
        # (rl_truths_from_rows) into the plan's scratch buffers.  Anything
        # else: through regionloss.Targets.
        rows = (targets if (not self.distributed and isinstance(targets, torch.Tensor)
                            and targets.is_cpu and targets.dtype is torch.float32
                            and targets.dim() == 2 and targets.shape[1] == 6
                            and targets.is_contiguous() and targets.data_ptr() % 4 == 0)
                else None)
        t = None
        if rows is None:
            t = self._targets(targets, n)
            if t.n_images != n:
                raise ValueError(f"targets describe {t.n_images} images, the output holds {n}")
        want_grad = self.training and torch.is_grad_enabled() and output.requires_grad

        global_counts = None
        n_batch = n
        if self.distributed:
            global_counts = self._all_reduce_counts(plan, output.detach(), t)
            n_batch = global_counts.n_images
        seen = None
        if self.mode == "darknet":
            seen = self.seen + n_batch if self.training else self.seen
        grad = self._grad_tensor(output) if want_grad else None
        # The library reads the output in place (its data pointer: no copy,
        # no numpy view) and writes the gradient into grad; the GIL is
        # released during the call (ctypes).
        if rows is not None:
            code, bp = plan._fill_rows(output.data_ptr(), n, rows.data_ptr(), rows.shape[0],
                                       seen, global_counts, handle=handle)
            if bp is None:  # the same message as the other path, naming the row
                Targets.from_rows(rows.detach().numpy(), n)
                _lib.check(code)
        else:
            m = len(t.boxes)
            bp = plan._fill(output.data_ptr(), n, m, t.boxes.ctypes.data if m else None,
                            t.offsets.ctypes.data, seen, global_counts, handle=handle)
        r = _lib.rl_result()
        _lib.check(_lib.compute(handle, bp, ctypes.byref(r),
                                grad.data_ptr() if grad is not None else None))
        del t, rows  # kept alive until the library returned
        # Only a call that succeeded moves seen on.
        if self.mode == "darknet" and self.training:
            self.seen = seen
        self._last = r
        self.last_global_counts = global_counts
        loss = torch.scalar_tensor(r.loss, dtype=torch.float32)
        if grad is None:
            return loss
        return _HandOn.apply(output, loss, grad)

    def _grad_tensor(self, output):
        """The tensor the gradient is written into: a view of a buffer the
        module keeps, reused when no tensor refers to it any more.

        A fresh gradient-sized tensor per call costs page faults and the
        kernel's zeroing on every step once it is past malloc's mmap
        threshold (a 64-image COCO 19x19 gradient is 39 MB: more time than
        the loss itself).  The buffer is a numpy array; torch.from_numpy's
        tensor holds a reference to it until its storage dies (autograd
        drops it once the upstream layer's backward has used it, a leaf
        output's .grad keeps it).  So the array's reference count says
        whether any tensor still sees the memory: if one does, a new
        buffer is taken and the old one is left to its holders.

        The gradient has the output's dtype.  numpy has no bfloat16: its
        buffer is int16 (torch.from_numpy takes no uint16), viewed as bfloat16 (the view shares the storage,
        which holds the array as from_numpy's tensor would)."""
        shape = tuple(output.shape)
        npdt = _NP_GRAD[output.dtype]
        with self._grad_lock:
            buf = self._grad_buf
            # references: self._grad_buf, buf, getrefcount's argument
            if (buf is None or buf.shape != shape or buf.dtype != npdt
                    or sys.getrefcount(buf) > 3):
                buf = np.empty(shape, dtype=npdt)
                self._grad_buf = buf
            g = torch.from_numpy(buf)
            return g if g.dtype == output.dtype else g.view(output.dtype)

    def _all_reduce_counts(self, plan, pred, t):
        import torch.distributed as dist
        if not dist.is_available() or not dist.is_initialized():
            raise RuntimeError("RegionLoss(distributed=True): torch.distributed is not "
                               "initialised (dist.init_process_group)")
        if plan.norm == "batch":
            own = plan.count(pred, t, seen=0)
        else:  # images and sum need only the image count (sum: for seen)
            own = Counts(0, 0, 0, t.n_images)
        c = torch.tensor(list(own), dtype=torch.int64)
        dist.all_reduce(c, op=dist.ReduceOp.SUM, group=self.process_group)
        return Counts(*(int(v) for v in c.tolist()))


Error = _lib.Error
__all__ = ["RegionLoss", "Error"]
