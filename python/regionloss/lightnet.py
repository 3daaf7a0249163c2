"""regionloss.lightnet.RegionLoss: lightnet's RegionLoss constructor over
regionloss.torch.RegionLoss (docs/python.md, "Coming from lightnet").

    from regionloss.lightnet import RegionLoss
    crit = RegionLoss(20, anchors)                  # lightnet's order and defaults
    loss = crit(output, target)                     # target: (N, T, 5) padded with -1 rows
    loss.backward()

Written against lightnet 2.0.0 (EAVISE; lightnet/network/loss/_regionloss.py
of tag v2.0.0): RegionLoss(num_classes, anchors, stride=32, seen=0,
coord_scale=1.0, noobject_scale=1.0, object_scale=5.0, class_scale=1.0,
thresh=0.6, coord_prefill=12800).  There the anchors are in grid cells
(output units: the decoded box is anchor * e^tw cells), stride only scales
brambox annotations (pixels) to cells, and a target tensor is
(N, T, 5) ``class, x_center, y_center, width, height`` relative to the
image, padded with [-1, 0, 0, 0, 0].  Its loss is darknet's region loss
divided by the batch size: every squared term halved (mse / 2), the class
term a softmax cross-entropy, the objectness target the IoU (rescore),
slots whose best IoU exceeds thresh left out, and the 0.01-weighted prior
towards the anchor's centre and shape while seen < coord_prefill.  That is
the library's darknet mode with norm "images" (docs/darknet.md, "The loss
in one screen"), which this class configures.

This module imports torch."""

import numbers

import numpy as np
import torch

from . import torch as _rt
from ._plan import _integer, _number

# Native options this class passes on (its own arguments cover the rest).
_NATIVE = ("layout", "norm", "threads", "variant", "rescore", "logistic_classes",
           "warmup_scale", "distributed", "process_group")
# Native names whose lightnet argument this class takes instead.
_AS_LIGHTNET = {"lambda_coord": "coord_scale", "lambda_class": "class_scale",
                "lambda_obj": "object_scale", "lambda_noobj": "noobject_scale",
                "warmup_seen": "coord_prefill"}


def _anchor_cells(anchors, stride, units):
    """lightnet's 2D list of (w, h) anchors as a (B, 2) array in grid
    cells; TypeError/ValueError naming the argument otherwise."""
    if isinstance(anchors, torch.Tensor):
        anchors = anchors.tolist()
    if (isinstance(anchors, (str, bytes, numbers.Number))
            or not hasattr(anchors, "__len__") or not hasattr(anchors, "__getitem__")):
        raise TypeError(f"anchors = {anchors!r}; a list of [w, h] pairs expected "
                        "(lightnet's order is RegionLoss(num_classes, anchors, ...))")
    if len(anchors) == 0:
        raise ValueError("anchors: an empty list; at least one [w, h] pair expected")
    pairs = []
    for b, a in enumerate(anchors):
        if isinstance(a, (torch.Tensor, np.ndarray)):
            a = a.tolist()
        if (isinstance(a, (str, bytes)) or not hasattr(a, "__len__") or len(a) != 2
                or not all(isinstance(v, numbers.Real) and not isinstance(v, bool)
                           for v in a)):
            more = (" (lightnet's 4-value anchors, with a centre prior, are not supported)"
                    if hasattr(a, "__len__") and len(a) == 4 else "")
            raise TypeError(f"anchors[{b}] = {a!r}; a [w, h] pair of numbers expected{more}")
        pairs.append((float(a[0]), float(a[1])))
    cells = np.array(pairs, dtype=np.float64)
    if units == "pixels":
        cells /= stride
    return cells


class RegionLoss(_rt.RegionLoss):
    """lightnet 2.0.0's RegionLoss signature; the loss of the native
    regionloss.torch.RegionLoss configured as

        RegionLoss(anchors_in_cells, num_classes, mode="darknet", norm="images",
                   lambda_coord=coord_scale, lambda_noobj=noobject_scale,
                   lambda_obj=object_scale, lambda_class=class_scale,
                   thresh=thresh, warmup_seen=coord_prefill, seen=seen)

    (rescore, softmax classes and warm-up scale 0.01 are darknet mode's
    defaults), which it is: every native attribute, crit.last and
    decode() included.

    anchors: lightnet's list of [w, h] pairs, in grid cells (lightnet
    2.0.0's unit); anchor_units="pixels" takes them in pixels of the
    network's input and divides them by stride.  stride: the network's
    downsampling (input size / grid size).  seen: images trained on so
    far.  Native options (keyword only): layout, norm (default "images",
    lightnet's division by the batch size; "sum" is darknet's), threads,
    variant, rescore, logistic_classes, warmup_scale, distributed,
    process_group.

    forward(output, target, seen=None) as lightnet's: seen, when given,
    replaces the count instead of adding the batch.  target: lightnet's
    (N, T, 5) tensor ``class, cx, cy, w, h`` relative to the image, rows
    of class -1 padding, or any form the native module takes.  In eval
    mode, as lightnet, the coord_prefill prior is left out and seen is
    not moved.  crit.values: lightnet's detached parts (total, conf,
    coord, class) of the last call."""

    def __init__(self, num_classes, anchors, stride=32, seen=0, coord_scale=1.0,
                 noobject_scale=1.0, object_scale=5.0, class_scale=1.0, thresh=0.6,
                 coord_prefill=12800, *, anchor_units="cells", **options):
        # Arguments first (TypeError/ValueError naming the argument), then
        # the native constructor, whose library plan checks the ranges.
        unknown = sorted(set(options) - set(_NATIVE))
        if unknown:
            hints = [f"{k} is this class's {_AS_LIGHTNET[k]}" for k in unknown
                     if k in _AS_LIGHTNET]
            if "mode" in unknown:
                hints.append("the mode is always darknet's (lightnet computes darknet's "
                             "region loss); regionloss.torch.RegionLoss has spec mode")
            raise TypeError(f"lightnet.RegionLoss: unknown option(s) {', '.join(unknown)}"
                            f"{' (' + '; '.join(hints) + ')' if hints else ''}; besides "
                            "lightnet's arguments it takes anchor_units, "
                            f"{', '.join(_NATIVE)} (docs/python.md)")
        if (isinstance(num_classes, (str, bytes)) or hasattr(num_classes, "__len__")) and \
                isinstance(anchors, numbers.Number):
            raise TypeError(f"num_classes = {num_classes!r} is a sequence and anchors = "
                            f"{anchors!r} a number: the arguments are reversed (lightnet's "
                            "order is RegionLoss(num_classes, anchors, ...))")
        num_classes = _integer("num_classes", num_classes)
        if isinstance(stride, bool) or not isinstance(stride, numbers.Real):
            raise TypeError(f"stride = {stride!r}; the network's downsampling factor (a "
                            "number) expected")
        if not stride > 0 or stride == float("inf"):
            raise ValueError(f"stride = {stride!r}; a positive finite number expected")
        if anchor_units not in ("cells", "pixels"):
            raise ValueError(f"anchor_units = {anchor_units!r}; 'cells' (lightnet 2.0.0's "
                             "grid cells) or 'pixels' (divided by stride) expected")
        cells = _anchor_cells(anchors, stride, anchor_units)
        scales = {name: _number(name, v) for name, v in (
            ("coord_scale", coord_scale), ("noobject_scale", noobject_scale),
            ("object_scale", object_scale), ("class_scale", class_scale),
            ("thresh", thresh))}
        coord_prefill = _integer("coord_prefill", coord_prefill)
        options.setdefault("norm", "images")
        super().__init__(cells, num_classes, mode="darknet",
                         lambda_coord=scales["coord_scale"],
                         lambda_noobj=scales["noobject_scale"],
                         lambda_obj=scales["object_scale"],
                         lambda_class=scales["class_scale"],
                         thresh=scales["thresh"], warmup_seen=coord_prefill, seen=seen,
                         **options)
        self.stride = stride
        self.anchor_units = anchor_units
        self._given_seen = None

    # lightnet's names for the weights, read-only: a plan per grid is built
    # from the configuration, so a later assignment would change nothing.
    coord_scale = property(lambda self: self.config["lambda_coord"])
    noobject_scale = property(lambda self: self.config["lambda_noobj"])
    object_scale = property(lambda self: self.config["lambda_obj"])
    class_scale = property(lambda self: self.config["lambda_class"])
    thresh = property(lambda self: self.config["thresh"])
    coord_prefill = property(lambda self: self.config["warmup_seen"])

    def extra_repr(self):
        return (f"classes={self.num_classes}, stride={self.stride}, threshold={self.thresh}, "
                f"seen={self.seen}, coord_scale={self.coord_scale}, "
                f"object_scale={self.object_scale}, noobject_scale={self.noobject_scale}, "
                f"class_scale={self.class_scale}, coord_prefill={self.coord_prefill}, "
                f"norm={self.config['norm']!r}, anchors (cells)="
                + " ".join(f"[{w:.5g}, {h:.5g}]" for w, h in self._plan(1, 1)._anchors))

    def forward(self, output, target, seen=None):
        given = None if seen is None else _rt._seen_arg(seen)
        self._given_seen = given
        try:
            loss = super().forward(output, target)
        finally:
            self._given_seen = None
        if given is not None:
            self.seen = given  # lightnet keeps a given seen in eval mode too
        return loss

    def _call_seen(self, n_batch, training):
        """lightnet: a given seen replaces the count, training adds the
        batch first; eval mode has no prefill, which is the loss of a seen
        past coord_prefill."""
        if self._given_seen is not None:
            seen = self._given_seen
        else:
            seen = self.seen + n_batch if training else self.seen
        return seen if training else max(seen, self.coord_prefill)

    @property
    def values(self):
        """lightnet's detached parts of the last call, float32 0-d tensors:
        total, conf (objectness and noobj), coord (the coordinates and the
        coord_prefill prior), class."""
        r = self.last
        if r is None:
            raise RuntimeError("lightnet.RegionLoss.values: no call yet")
        return {"total": _rt._loss_tensor(r.loss),
                "conf": _rt._loss_tensor(r.obj + r.noobj),
                "coord": _rt._loss_tensor(r.coord + r.warmup),
                "class": _rt._loss_tensor(r.cls)}


__all__ = ["RegionLoss"]
