"""regionloss.torch.RegionLoss and YoloLoss: the library as PyTorch loss modules.

    crit = RegionLoss(anchors, num_classes=20)           # same options as Plan
    loss = crit(output, targets)    # output (N, B*(5+C), H, W) on the CPU: float32,
                                    # or bfloat16 / float16 (autocast), read as they are
    loss.backward()                 # the library's gradient times grad_output
    crit.last                       # Result of the last call

    crit = YoloLoss(anchors_px, num_classes=80, masks=[[6, 7, 8], [3, 4, 5], [0, 1, 2]],
                    net_size=416)                 # darknet's [yolo] heads
    loss = crit([out13, out26, out52], targets)  # one (N, B*(5+C), H, W) output per head
    crit.last.heads                              # a Result per head; crit.last the total

The forward call computes the loss and, when a gradient is wanted, the
gradient in the same library call; backward only hands it on.  The output
tensors are read in place (no copy).  docs/python.md has the details.
"""

import ctypes
import itertools
import math
import numbers
import sys
import threading
import weakref

import numpy as np
import torch

from . import _lib
from ._decode import Decoded, decode_torch
from ._plan import Plan, _anchors_arg, _torch_codes
from ._result import Counts, Result, YoloResult
from ._targets import Targets
from ._yolo import YoloPlan, _net_size_arg


# The numpy dtype of the buffer a gradient of each output dtype is written into.
_NP_GRAD = {torch.float32: np.dtype(np.float32), torch.float16: np.dtype(np.float16),
            torch.bfloat16: np.dtype(np.int16)}


# float32's largest finite value, and the least double that rounds to
# infinity in float32: FLT_MAX plus half its unit (2^104), a tie that
# rounds to even, which is up.
_F32_MAX = float(np.finfo(np.float32).max)
_F32_OVERFLOW = 2.0 ** 128 - 2.0 ** 103


def _loss_tensor(loss):
    """The loss (the library's double) as the float32 0-d tensor forward
    returns, rounded to nearest as IEEE rounds it: a loss past float's
    range is +inf (docs/python.md, "Overflow"), as the library's float
    gradient entries past it are.  torch.scalar_tensor rounds in range but
    raises RuntimeError for any double beyond FLT_MAX, even one that rounds
    to it."""
    if not -_F32_MAX <= loss <= _F32_MAX and loss == loss:
        loss = math.copysign(math.inf if abs(loss) >= _F32_OVERFLOW else _F32_MAX, loss)
    return torch.scalar_tensor(loss, dtype=torch.float32)


class _HandOn(torch.autograd.Function):
    """Attaches a gradient computed in forward to the returned loss.

    The gradient is a saved tensor, not a plain attribute of ctx: autograd
    frees saved tensors right after a backward that does not retain the
    graph (before the gradient reaches the next node, so a leaf's .grad or
    the next node's input buffer can take the tensor over without a copy,
    and the module's buffer is free for reuse even while the loss tensor
    lives on), and keeps them for another backward when it does
    (retain_graph=True, autograd.grad, gradcheck).  Backward returns the
    same tensor every time; autograd never writes into a tensor a saved
    one still shares (it copies, or adds out of place), so every backward
    hands on the same numbers."""

    @staticmethod
    def forward(ctx, output, loss, grad):
        ctx.save_for_backward(grad)
        return loss

    @staticmethod
    @torch.autograd.function.once_differentiable
    def backward(ctx, grad_output):
        grad, = ctx.saved_tensors
        # loss.backward() passes exactly 1 (.item() reads the 0-d tensor
        # without launching a comparison kernel)
        if grad_output.item() != 1.0:
            grad = grad * grad_output
        return grad, None, None


# The options of RegionLoss that go to Plan (its keyword-only parameters but
# grad_mode and grad_dtype, which the module fixes; test_bad_inputs.py
# checks the two lists agree).
_REGION_OPTIONS = ("layout", "mode", "lambda_coord", "lambda_class", "lambda_obj",
                   "lambda_noobj", "thresh", "norm", "threads", "variant", "rescore",
                   "logistic_classes", "warmup_seen", "warmup_scale", "flavour", "classfix",
                   "focal_loss")
# darknet's cfg names of the weights, which a user porting a .cfg may try
_DARKNET_NAMES = {"coord_scale": "lambda_coord", "class_scale": "lambda_class",
                  "object_scale": "lambda_obj", "noobject_scale": "lambda_noobj"}


def _check_options(cls, config, accepted, more):
    """TypeError naming cls and the unknown keywords of config, with what
    cls accepts (accepted, then more): before anything is made, so the
    message is the module's, not that of the Plan it would make."""
    unknown = sorted(set(config) - set(accepted))
    if unknown:
        hints = [f"darknet's {k} is {_DARKNET_NAMES[k]}" for k in unknown
                 if _DARKNET_NAMES.get(k) in accepted]
        raise TypeError(f"{cls}: unknown option(s) {', '.join(unknown)}"
                        f"{' (' + '; '.join(hints) + ')' if hints else ''}; it takes "
                        f"{', '.join(accepted + more)} (docs/python.md)")


class RegionLoss(torch.nn.Module):
    """The YOLOv2 region loss as an nn.Module over regionloss.Plan.

    RegionLoss(anchors, num_classes, *, layout="nchw", mode="spec",
               lambda_*, thresh, norm, threads=1, variant="auto", rescore,
               logistic_classes, warmup_seen, warmup_scale, flavour, classfix,
               focal_loss, seen=0,
               distributed=False, process_group=None)

    The grid is read from each output tensor (a plan per grid size is kept).
    Output: float32, bfloat16 or float16 (what torch.autocast gives), CPU,
    contiguous, (N, B*(5+C), H, W) for nchw or (N, H, W, B*(5+C)) for nhwc
    (5-D (.., B, 5+C, ..) forms too); anything else raises
    TypeError/ValueError saying how to convert.  A half output is read as
    it is and its gradient is in its type, rounded once to nearest even;
    the loss is a float32 tensor whatever the output's type (inf past
    float's range, as the library's gradient entries are: no error,
    docs/python.md "Overflow"; crit.last.loss is the double).  Targets: an
    (M, 6) tensor or array ``image, class, cx, cy, w, h``, an (N, T, 5)
    one ``class, cx, cy, w, h`` padded with class -1 rows (lightnet's), a
    list of per-image (T, 5) ``class, cx, cy, w, h``, or regionloss.Targets.

    Darknet mode keeps ``seen`` as darknet does: each forward in training
    mode adds the batch's images (the whole batch's, when distributed)
    before computing; set ``crit.seen`` to resume.  In eval mode the loss is
    computed without a gradient and seen is left alone.  Spec mode has no
    seen: a nonzero seen= there is a ValueError.  lightnet's argument order
    and names: regionloss.lightnet.RegionLoss.  decode(output): the boxes,
    objectness and class probabilities as the loss decodes them.

    distributed=True (torch.distributed initialised): this rank's output is
    its shard of the batch; the counts are all-reduced so that the loss and
    the gradient are this shard's exact part of the whole batch's
    (docs/data-parallel.md).  The returned loss is the shard's part: the
    batch's loss is the sum over ranks."""

    def __init__(self, anchors, num_classes, *, grad_mode="overwrite", seen=0,
                 distributed=False, process_group=None, **config):
        super().__init__()
        if (isinstance(anchors, numbers.Integral) and not isinstance(anchors, bool)
                and hasattr(num_classes, "__len__")):
            raise TypeError(f"RegionLoss(anchors, num_classes): anchors = {anchors!r} is a "
                            "number and num_classes a sequence: the arguments are reversed "
                            "(regionloss.lightnet.RegionLoss takes lightnet's order, "
                            "num_classes first)")
        if grad_mode != "overwrite":
            raise ValueError(f"grad_mode = {grad_mode!r}: the module always overwrites "
                             "(autograd does the accumulating)")
        if "grid" in config:
            raise TypeError("RegionLoss reads the grid from the output tensor; no grid=")
        if config.get("grad_dtype") is not None:
            raise ValueError("grad_dtype: the module's gradient is in the output's type "
                             "(autograd would round a float32 one to it again); use "
                             "regionloss.Plan for a float32 gradient of a half tensor")
        config.pop("grad_dtype", None)
        _check_options("RegionLoss", config, _REGION_OPTIONS,
                       ("seen", "distributed", "process_group"))
        self.anchors = anchors
        self.num_classes = num_classes
        self.config = dict(config)
        self.mode = config.get("mode", "spec")
        self.layout = config.get("layout", "nchw")
        self.seen = _seen_arg(seen)
        self.distributed = bool(distributed)
        self.process_group = process_group
        self.last = None
        self.last_global_counts = None
        self._plans = {}
        self._shapes = {}             # (shape, dtype) -> (plan, N, handle): validated once
        self._grad_buf = None         # see _grad_tensor
        self._grad_lock = threading.Lock()
        _register(self)  # the key of torch.compile's operator
        # Validate the configuration now, not at the first batch.
        self._plan(1, 1)
        if self.seen and self.mode != "darknet":
            raise ValueError(f"seen = {self.seen}: only darknet mode counts the images seen "
                             "(its warm-up); spec mode has no use for it: leave seen out, or "
                             "pass mode='darknet'")

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
        return _as_targets(targets, n)

    def forward(self, output, targets):
        if _compiling():
            return self._forward_compiled(output, targets)
        return self._eager_forward(output, targets)

    def _forward_compiled(self, output, targets):
        """forward under torch.compile: one call of the custom op
        regionloss::region_loss, which dynamo puts in the graph as it is
        (see _compiling)."""
        if _REGION_OP is None:  # a torch.compile without torch.library.custom_op
            return _region_outside_graph(self, output, targets)
        want_grad = self.training and torch.is_grad_enabled() and output.requires_grad
        loss, _ = _REGION_OP(output if want_grad else output.detach(),
                             _op_rows(targets, output.shape[0]), self._op_key, self.training,
                             want_grad)
        return loss

    def _eager_forward(self, output, targets):
        want_grad = self.training and torch.is_grad_enabled() and output.requires_grad
        loss, grad = self._compute(output, targets, want_grad, self.training)
        if grad is not None:
            loss = _HandOn.apply(output, loss, grad)
        return loss

    def _compute(self, output, targets, want_grad, training):
        """The library's call: (loss, gradient or None), the loss a float32
        0-d tensor without autograd; the module's state (seen, last, the
        gradient buffer) moved only once it succeeded."""
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

        global_counts = None
        n_batch = n
        if self.distributed:
            global_counts = self._all_reduce_counts(plan, output.detach(), t)
            n_batch = global_counts.n_images
        seen = self._call_seen(n_batch, training) if self.mode == "darknet" else None
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
        grad, buf = self._grad_tensor(output) if want_grad else (None, None)
        r = _lib.rl_result()
        _lib.check(_lib.compute(handle, bp, ctypes.byref(r),
                                grad.data_ptr() if grad is not None else None))
        del t, rows  # kept alive until the library returned
        loss = _loss_tensor(r.loss)
        # Only a call that succeeded changes the module (seen, last, the
        # buffer kept): after everything that can fail.
        if buf is not None:
            self._grad_buf = buf
        if self.mode == "darknet" and training:
            self.seen = seen
        self._last = r
        self.last_global_counts = global_counts
        return loss, grad

    def decode(self, output, *, dtype=None):
        """The boxes, objectness and class probabilities of output as this
        loss decodes them: regionloss.torch.decode with the module's
        anchors (grid cells), layout and classes (logistic in darknet mode
        with logistic_classes=True).  No autograd; float32 by default."""
        logistic = self.mode == "darknet" and bool(self.config.get("logistic_classes"))
        return decode_torch(output, self._plan(1, 1)._anchors, layout=self.layout,
                            num_classes=self.num_classes, logistic_classes=logistic,
                            dtype=dtype)

    def _call_seen(self, n_batch, training):
        """Darknet mode: the seen this call computes with (and keeps, in
        training mode): darknet adds the batch before the forward."""
        return self.seen + n_batch if training else self.seen

    def _grad_tensor(self, output):
        """(tensor, buffer): the tensor the gradient is written into, a view
        of a buffer the module keeps, reused when no tensor refers to it any
        more.  The caller keeps the buffer (self._grad_buf = buffer) once
        the call has succeeded: a failed call leaves the module as it was.

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
            g = torch.from_numpy(buf)
            return (g if g.dtype == output.dtype else g.view(output.dtype)), buf

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


def _seen_arg(seen):
    """seen= of a module: a non-negative integer (or a 0-d integer tensor,
    as lightnet keeps it)."""
    if isinstance(seen, torch.Tensor) and seen.dim() == 0 and not seen.is_floating_point():
        seen = int(seen)
    if isinstance(seen, bool) or not isinstance(seen, numbers.Integral):
        raise TypeError(f"seen = {seen!r}; an integer (images seen) expected")
    if seen < 0:
        raise ValueError(f"seen = {seen}; images seen cannot be negative")
    return int(seen)


def _as_targets(targets, n):
    """Targets of n images from what a module's forward was given: an (M, 6)
    tensor or array, an (N, T, 5) padded one (lightnet's: class -1 rows are
    padding), a list of per-image (T, 5) tensors or arrays, or Targets
    (CPU)."""
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
    if np.ndim(targets) == 3:
        return Targets.from_padded(targets)
    return Targets.from_rows(targets, n)


def _row_tensor(targets):
    """targets when it is an (M, 6) float32 CPU tensor the library can
    convert from its memory (rl_truths_from_rows), else None."""
    if (isinstance(targets, torch.Tensor) and targets.is_cpu
            and targets.dtype is torch.float32 and targets.dim() == 2
            and targets.shape[1] == 6 and targets.is_contiguous()
            and targets.data_ptr() % 4 == 0):
        return targets
    return None


def _reused_buffer(bufs, k, shape, dtype, lock):
    """(tensor, buffer): a tensor view of bufs[k], a numpy buffer of the
    gradient of an output of that shape and dtype, reused when no tensor
    refers to it any more, or of a new buffer, which the caller stores in
    bufs[k] once the call has succeeded (RegionLoss._grad_tensor says why
    and how)."""
    npdt = _NP_GRAD[dtype]
    with lock:
        buf = bufs[k]
        # references: the list's, buf, getrefcount's argument
        if (buf is None or buf.shape != shape or buf.dtype != npdt
                or sys.getrefcount(buf) > 3):
            buf = np.empty(shape, dtype=npdt)
        g = torch.from_numpy(buf)
        return (g if g.dtype == dtype else g.view(dtype)), buf


class _HandOnHeads(torch.autograd.Function):
    """Attaches the gradients of every head, computed in forward, to the
    returned loss: apply(loss, *outputs, *grads), grads[h] that of
    outputs[h] (None for a head that needs none).  The gradients are saved
    tensors, for _HandOn's reasons (freed after a backward that does not
    retain the graph, kept for another one)."""

    @staticmethod
    def forward(ctx, loss, *args):
        ctx.save_for_backward(*args[len(args) // 2:])
        return loss

    @staticmethod
    @torch.autograd.function.once_differentiable
    def backward(ctx, grad_output):
        grads = ctx.saved_tensors
        if grad_output.item() != 1.0:
            grads = tuple(None if g is None else g * grad_output for g in grads)
        return (None,) + tuple(grads) + (None,) * len(grads)


_YOLO_OPTIONS = ("layout", "lambda_coord", "lambda_class", "lambda_obj", "lambda_noobj",
                 "ignore_thresh", "truth_thresh", "norm", "threads", "variant", "box_loss",
                 # flavour alexeyab (docs/darknet.md)
                 "flavour", "iou_loss", "iou_thresh_kind", "iou_normalizer", "cls_normalizer",
                 "obj_normalizer", "scale_x_y", "iou_thresh", "label_smooth_eps", "max_delta",
                 "focal_loss", "new_coords", "objectness_smooth", "max_boxes", "show_details",
                 "counters_per_class")


class YoloLoss(torch.nn.Module):
    """Darknet's YOLOv3 [yolo] heads as an nn.Module over regionloss.YoloPlan.

    YoloLoss(anchors, num_classes, masks, net_size, *, layout="nchw",
             lambda_coord, lambda_class, lambda_obj, lambda_noobj,
             ignore_thresh=0.7, truth_thresh=1, norm="images", threads=1,
             variant="auto", box_loss="mse", distributed=False, process_group=None)

    anchors: the network's whole anchor list in pixels (darknet's
    ``anchors=``); masks: one list of anchor indices per head (darknet's
    ``mask=``), in the order the outputs are given; net_size: the
    network's input size in pixels, (width, height) or one integer.  The
    defaults are darknet's yolov3.cfg (ignore_thresh .7, truth_thresh 1,
    every scale 1) except the normalisation: "images" divides by the batch's
    images, "sum" is darknet's plain sum.  box_loss: "mse" (darknet's) or
    "iou", "giou", "diou", "ciou", as regionloss.YoloPlan's.

    forward(outputs, targets, *, net_size=None): outputs is the list of the
    heads' raw tensors, head h's (N, len(masks[h])*(5+C), H_h, W_h) for
    nchw or (N, H_h, W_h, len(masks[h])*(5+C)) for nhwc (5-D forms too),
    CPU, contiguous, every one float32 or every one bfloat16 / float16 (what
    torch.autocast gives), read in place; each grid is read from its
    tensor.  net_size= overrides the constructor's for this call
    (multi-scale training).  Targets as RegionLoss takes them.  Returns the
    loss, a float32 0-d tensor (inf past float's range, as RegionLoss's);
    backward hands each head the library's
    gradient times grad_output.  crit.last is the last call's YoloResult:
    the total's fields, and ``heads`` with a Result per head.  Eval mode,
    no_grad or outputs that need no gradient compute none.  Anything wrong
    raises TypeError/ValueError (or regionloss.Error) before anything
    changes, crit.last included.

    distributed=True: this rank's outputs are its shard of the batch; with
    norm "images" the image count is all-reduced (process_group) so that
    the loss and gradient are this shard's exact part of the whole batch's;
    norm "sum" needs no communication.  The returned loss is the shard's
    part: the batch's loss is the sum over ranks."""

    def __init__(self, anchors, num_classes, masks, net_size, *, grad_mode="overwrite",
                 distributed=False, process_group=None, **config):
        super().__init__()
        if grad_mode != "overwrite":
            raise ValueError(f"grad_mode = {grad_mode!r}: the module always overwrites "
                             "(autograd does the accumulating)")
        if "heads" in config:
            raise TypeError("YoloLoss reads each head's grid from its output tensor: give "
                            "masks=, no heads=")
        if config.get("grad_dtype") is not None:
            raise ValueError("grad_dtype: the module's gradient is in the outputs' type "
                             "(autograd would round a float32 one to it again); use "
                             "regionloss.YoloPlan for a float32 gradient of half tensors")
        config.pop("grad_dtype", None)
        _check_options("YoloLoss", config, _YOLO_OPTIONS, ("distributed", "process_group"))
        if (isinstance(masks, (str, bytes)) or not hasattr(masks, "__len__")
                or not all(hasattr(m, "__len__") or isinstance(m, int) for m in masks)):
            raise TypeError(f"masks = {masks!r}; one list of anchor indices per head expected")
        self.anchors = anchors
        self.num_classes = num_classes
        self.masks = [list(m) if hasattr(m, "__len__") else [m] for m in masks]
        self.net_size = _net_size_arg(net_size)
        self.config = dict(config)
        self.layout = config.get("layout", "nchw")
        self.distributed = bool(distributed)
        self.process_group = process_group
        self._last = None
        self.last_global_counts = None
        self._plans = {}
        self._shapes = {}
        self._grad_bufs = [None] * len(self.masks)
        self._grad_lock = threading.Lock()
        _register(self)  # the key of torch.compile's operator
        # Validate the configuration now, not at the first batch.
        plan = self._plan(tuple((1, 1) for _ in self.masks), self.net_size)
        self.n_heads = plan.n_heads
        self.norm = plan.norm
        self.box_loss = plan.box_loss

    def _plan(self, grids, net):
        key = (grids, net)
        plan = self._plans.get(key)
        if plan is None:
            heads = [(H, W, m) for (H, W), m in zip(grids, self.masks)]
            plan = YoloPlan(self.anchors, self.num_classes, heads, net, **self.config)
            self._plans[key] = plan
        return plan

    def extra_repr(self):
        return (f"masks={self.masks}, C={self.num_classes}, net_size={self.net_size}, "
                f"layout={self.layout!r}, norm={self.norm!r}, box_loss={self.box_loss!r}")

    @property
    def last(self):
        """The last call's YoloResult (built from the library's structs
        when first read)."""
        r = self._last
        if isinstance(r, tuple):
            r = self._last = YoloResult._from_c(*r)
        return r

    @last.setter
    def last(self, value):
        self._last = value

    def _grid(self, h, output):
        if self.layout == "nchw":
            if output.dim() == 4:
                return tuple(output.shape[2:4])
            if output.dim() == 5:
                return tuple(output.shape[3:5])
        elif output.dim() in (4, 5):
            return tuple(output.shape[1:3])
        raise ValueError(f"outputs[{h}]: shape {tuple(output.shape)}; a {self.layout} tensor "
                         "of 4 (or 5) dimensions expected")

    def _check(self, outputs):
        """Type, device, dtype, contiguity and alignment of every output."""
        if not isinstance(outputs, (list, tuple)):
            raise TypeError(f"outputs: a list of {self.n_heads} head outputs (tensors) "
                            f"expected, got {type(outputs).__name__}")
        if len(outputs) != self.n_heads:
            raise ValueError(f"outputs: {len(outputs)} tensors; this loss has {self.n_heads} "
                             f"heads (masks {self.masks}), one output each expected")
        codes = _torch_codes()
        for h, o in enumerate(outputs):
            what = f"outputs[{h}]"
            if not isinstance(o, torch.Tensor):
                raise TypeError(f"{what}: a torch.Tensor expected, got {type(o).__name__}")
            if o.device.type != "cpu":
                raise ValueError(f"{what}: on {o.device}; the library computes on the CPU: "
                                 "pass output.cpu() (autograd carries the gradient back)")
            if o.dtype not in codes:
                raise TypeError(f"{what}: dtype {o.dtype}; the library reads float32, "
                                "bfloat16 or float16: pass output.float() (autograd carries "
                                "the gradient back)")
            if o.dtype != outputs[0].dtype:
                raise TypeError(f"{what}: dtype {o.dtype}, outputs[0] is {outputs[0].dtype}; "
                                "every head's output has one dtype (the library reads one "
                                "element type per call): convert with .to(...)")
            if not o.is_contiguous():
                raise ValueError(f"{what}: not contiguous (strides {o.stride()}); the "
                                 "library reads it in place: pass output.contiguous()")
            if o.data_ptr() % o.element_size():
                raise ValueError(f"{what}: data at {o.data_ptr():#x} is not aligned to "
                                 f"{o.dtype}; pass output.clone()")

    def _prepared(self, outputs, net):
        """(plan, N, library plan) for outputs the library can read in
        place; the shapes are checked against the plan once per shapes,
        dtype and net size."""
        self._check(outputs)
        key = (tuple(o.shape for o in outputs), outputs[0].dtype, net)
        hit = self._shapes.get(key)
        if hit is None:
            grids = tuple(self._grid(h, o) for h, o in enumerate(outputs))
            plan = self._plan(grids, net)
            ns = [plan.check_shape(o.shape, h, f"outputs[{h}]") for h, o in enumerate(outputs)]
            for h, n in enumerate(ns):
                if n != ns[0]:
                    raise ValueError(f"outputs[{h}]: {n} images, outputs[0] holds {ns[0]}; "
                                     "every head's output is of the same batch")
            hit = (plan, ns[0], plan._handle_for(_torch_codes()[outputs[0].dtype]))
            self._shapes[key] = hit
        return hit

    def forward(self, outputs, targets, *, net_size=None):
        if _compiling():
            return self._forward_compiled(outputs, targets, net_size)
        return self._eager_forward(outputs, targets, net_size)

    def _forward_compiled(self, outputs, targets, net_size):
        """forward under torch.compile: one call of the custom op
        regionloss::yolo_loss (see _compiling)."""
        if _YOLO_OP is None:  # a torch.compile without torch.library.custom_op
            return _yolo_outside_graph(self, outputs, targets, net_size)
        net = self.net_size if net_size is None else _net_size_arg(net_size)
        if not isinstance(outputs, (list, tuple)) or not outputs:
            self._check(outputs)  # its message
        grad_on = self.training and torch.is_grad_enabled()
        wants = [grad_on and o.requires_grad for o in outputs]
        loss, _ = _YOLO_OP([o if w else o.detach() for o, w in zip(outputs, wants)],
                           _op_rows(targets, outputs[0].shape[0]), self._op_key,
                           net[0], net[1], wants)
        return loss

    def _eager_forward(self, outputs, targets, net_size):
        net = self.net_size if net_size is None else _net_size_arg(net_size)
        loss, grads = self._compute(outputs, targets, net,
                                    self.training and torch.is_grad_enabled())
        if grads is not None:
            loss = _HandOnHeads.apply(loss, *outputs, *grads)
        return loss

    def _compute(self, outputs, targets, net, wants):
        """The library's call: (loss, a gradient or None per head, or None
        when no head wants one); the module's state moved only once it
        succeeded.  wants: a bool per head, or one bool for every head
        whose output requires a gradient."""
        plan, n, handle = self._prepared(outputs, net)
        if isinstance(wants, bool):
            wants = [wants and o.requires_grad for o in outputs]
        rows = None if self.distributed else _row_tensor(targets)
        t = None
        if rows is None:
            t = _as_targets(targets, n)
            if t.n_images != n:
                raise ValueError(f"targets describe {t.n_images} images, the outputs hold {n}")

        images = None
        if self.distributed:
            images = self._all_reduce_images(n)
        if rows is not None:
            code, bp, op = plan._rows_to_truths(rows.data_ptr(), rows.shape[0], n)
            if code != _lib.RL_OK:  # the same message as the other path, naming the row
                Targets.from_rows(rows.detach().numpy(), n)
                _lib.check(code)
            m = rows.shape[0]
        else:
            m = len(t.boxes)
            bp, op = (t.boxes.ctypes.data if m else None), t.offsets.ctypes.data
        st = plan._fill([o.data_ptr() for o in outputs], n, m, bp, op, images, handle)
        grads = bufs = None
        if any(wants):
            taken = [_reused_buffer(self._grad_bufs, h, tuple(o.shape), o.dtype,
                                    self._grad_lock) if w else (None, None)
                     for h, (o, w) in enumerate(zip(outputs, wants))]
            grads = [g for g, _ in taken]
            bufs = [b for _, b in taken]
        total, heads = plan._run(handle, st, None if grads is None else
                                 [None if g is None else g.data_ptr() for g in grads])
        del t, rows  # kept alive until the library returned
        loss = _loss_tensor(total.loss)
        # Only a call that succeeded changes the module (last, the buffers
        # kept): after everything that can fail.
        if bufs is not None:
            for h, b in enumerate(bufs):
                if b is not None:
                    self._grad_bufs[h] = b
        self._last = (total, heads, plan.n_heads)
        self.last_global_counts = None if images is None else Counts(0, 0, 0, images)
        return loss, grads

    def decode(self, outputs, *, net_size=None, dtype=None):
        """Each head's boxes, objectness and class probabilities as the
        loss decodes them: a list with one Decoded per head
        (regionloss.torch.decode with layer="yolo", the head's anchors and
        net_size, the constructor's unless given).  No autograd; float32
        by default."""
        net = self.net_size if net_size is None else _net_size_arg(net_size)
        if not isinstance(outputs, (list, tuple)) or len(outputs) != self.n_heads:
            raise ValueError(f"outputs: a list of {self.n_heads} head outputs expected "
                             f"(masks {self.masks})")
        anchors = _anchors_arg(self.anchors, "A", "pixels")
        return [decode_torch(o, anchors[m], layer="yolo", layout=self.layout,
                             num_classes=self.num_classes, net_size=net, dtype=dtype)
                for o, m in zip(outputs, self.masks)]

    def _all_reduce_images(self, n):
        """The images of every rank (norm images); None for norm sum, which
        divides by nothing and so needs no communication."""
        import torch.distributed as dist
        if not dist.is_available() or not dist.is_initialized():
            raise RuntimeError("YoloLoss(distributed=True): torch.distributed is not "
                               "initialised (dist.init_process_group)")
        if self.norm != "images":
            return None
        c = torch.tensor([n], dtype=torch.int64)
        dist.all_reduce(c, op=dist.ReduceOp.SUM, group=self.process_group)
        return int(c.item())


def decode(output, anchors, *, layer="region", layout="nchw", num_classes=None,
           net_size=None, logistic_classes=False, dtype=None):
    """regionloss.decode for a tensor: boxes (N, H, W, B, 4) cx, cy, w, h
    normalised to the image, objectness (N, H, W, B) and class_probs
    (N, H, W, B, C) as a Decoded of tensors on the output's device,
    computed in dtype (float32 by default) without autograd.  The output
    may be float32, bfloat16, float16 or float64.  Arguments as
    regionloss.decode's (docs/python.md, "Decoding")."""
    return decode_torch(output, anchors, layer=layer, layout=layout,
                        num_classes=num_classes, net_size=net_size,
                        logistic_classes=logistic_classes, dtype=dtype)

# ------------------------------------------------------------ torch.compile
#
# Dynamo cannot trace the eager forward: it reads data pointers, calls the
# library through ctypes and converts targets with numpy (torch 2.13 fails
# with a TorchRuntimeError in the targets' conversion, after graph breaks).  So where torch
# has torch.library.custom_op (2.4 and later), the library's call is an
# operator of its own, regionloss::region_loss and regionloss::yolo_loss,
# with a fake implementation (the shapes, for tracing) and an autograd
# formula (the gradient computed in forward, times grad_output).  Under
# torch.compile the modules' forward is that one call, which dynamo puts in
# the graph as it is: no graph break, so fullgraph=True compiles.  Eager
# calls keep the autograd.Function path above (torch 1.13 has nothing
# else, and it is the cheaper one).  Feature detection, not versions:

_is_compiling = getattr(getattr(torch, "compiler", None), "is_compiling", None)
_custom_op = getattr(getattr(torch, "library", None), "custom_op", None)


def _compiling():
    """True while dynamo traces (torch.compiler.is_compiling, which dynamo
    reads as a constant True), False in eager code and on a torch without
    it."""
    return _is_compiling is not None and _is_compiling()


def _outside_graph(fn):
    """fn run by Python, not traced (a graph break), for a torch that has
    torch.compile but not custom_op (2.0 to 2.3).  Made when this module
    is imported on such a torch only: torch.compiler.disable imports
    torch._dynamo, and merely importing it makes torch 2.13's gloo process
    group deadlock now and then at interpreter exit (its destructor joins
    a thread that waits for the GIL), which eager users must not pay for."""
    disable = getattr(getattr(torch, "compiler", None), "disable", None)
    return disable(fn) if disable is not None else fn


# The operators take the module as an integer key (an operator's arguments
# are tensors, numbers, booleans and strings): the module registers itself
# when made, and the operator's implementation, which runs as plain Python
# when the compiled graph runs, looks it up and computes exactly as eager
# forward does (seen, last and the gradient buffers move as they do there).
_INSTANCES = weakref.WeakValueDictionary()
_KEYS = itertools.count(1)


def _register(module):
    module._op_key = key = next(_KEYS)
    _INSTANCES[key] = module


def _instance(key):
    module = _INSTANCES.get(key)
    if module is None:
        raise RuntimeError(f"regionloss: no loss module has key {key} (it was deleted)")
    return module


def _op_rows(targets, n):
    """The (M, 6) float32 rows ``image, class, cx, cy, w, h`` an operator
    takes, made in the graph: from an (M, 6) tensor or numpy array (rounded
    to float32), or from a list of n per-image (T, 5) tensors or arrays.
    The library checks the rows as in an eager call.  Other forms
    (regionloss.Targets, darknet buffers) cannot be traced: TypeError,
    rather than a silent graph break."""
    if isinstance(targets, (torch.Tensor, np.ndarray)) and targets.ndim == 2 \
            and targets.shape[1] == 6:
        return torch.as_tensor(targets).detach().to(torch.float32).contiguous()
    if isinstance(targets, (list, tuple)) and len(targets) == n and n > 0:
        per_image = [torch.as_tensor(t).detach().to(torch.float32)
                     if isinstance(t, (torch.Tensor, np.ndarray)) else None for t in targets]
        if all(t is not None and (t.dim() == 2 and t.shape[1] == 5 or t.numel() == 0)
               for t in per_image):
            return torch.cat([torch.cat([torch.full((t.shape[0] if t.numel() else 0, 1),
                                                    float(k), device=t.device),
                                         t.reshape(-1, 5)], 1)
                              for k, t in enumerate(per_image)]).contiguous()
    raise TypeError(
        f"targets: {type(targets).__name__}; under torch.compile the loss takes an (M, 6) "
        f"tensor or array (image, class, cx, cy, w, h) or a list of {n} per-image (T, 5) "
        "tensors or arrays (docs/python.md, torch.compile)")


def _define_ops():
    """(region_loss, yolo_loss), the operators, or (None, None) where torch
    has no torch.library.custom_op."""
    if _custom_op is None or _is_compiling is None:
        return None, None
    from typing import List, Tuple
    Tensor = torch.Tensor

    def region_loss(output: Tensor, rows: Tensor, key: int, training: bool,
                    want_grad: bool) -> Tuple[Tensor, Tensor]:
        loss, grad = _instance(key)._compute(output, rows, want_grad, training)
        return loss, (grad if grad is not None else output.new_empty(0))

    def region_fake(output, rows, key, training, want_grad):
        return (output.new_empty((), dtype=torch.float32),
                torch.empty_like(output) if want_grad else output.new_empty(0))

    def region_setup(ctx, inputs, output):
        ctx.save_for_backward(output[1])

    def region_backward(ctx, grad_loss, _):
        grad, = ctx.saved_tensors
        return grad * grad_loss, None, None, None, None

    def yolo_loss(outputs: List[Tensor], rows: Tensor, key: int, net_w: int, net_h: int,
                  wants: List[bool]) -> Tuple[Tensor, List[Tensor]]:
        loss, grads = _instance(key)._compute(list(outputs), rows, (net_w, net_h),
                                              list(wants))
        if grads is None:
            grads = [None] * len(outputs)
        return loss, [o.new_empty(0) if g is None else g for o, g in zip(outputs, grads)]

    def yolo_fake(outputs, rows, key, net_w, net_h, wants):
        return (outputs[0].new_empty((), dtype=torch.float32),
                [torch.empty_like(o) if w else o.new_empty(0) for o, w in zip(outputs, wants)])

    def yolo_setup(ctx, inputs, output):
        ctx.wants = list(inputs[5])
        ctx.save_for_backward(*output[1])

    def yolo_backward(ctx, grad_loss, _):
        grads = [g * grad_loss if w else None for g, w in zip(ctx.saved_tensors, ctx.wants)]
        return grads, None, None, None, None, None

    ops = []
    for name, fn, fake, setup, backward in (
            ("region_loss", region_loss, region_fake, region_setup, region_backward),
            ("yolo_loss", yolo_loss, yolo_fake, yolo_setup, yolo_backward)):
        op = _custom_op(f"regionloss::{name}", fn, mutates_args=())
        op.register_fake(fake)
        op.register_autograd(backward, setup_context=setup)
        ops.append(op)
    return tuple(ops)


_REGION_OP, _YOLO_OP = _define_ops()
if _REGION_OP is None and hasattr(torch, "compile"):
    _region_outside_graph = _outside_graph(RegionLoss._eager_forward)
    _yolo_outside_graph = _outside_graph(YoloLoss._eager_forward)


Error = _lib.Error
__all__ = ["RegionLoss", "YoloLoss", "Error", "decode", "Decoded"]
