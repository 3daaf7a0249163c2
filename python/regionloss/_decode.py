"""regionloss.decode and regionloss.torch.decode: the boxes, objectness and
class probabilities of a raw output, decoded as the loss decodes them
(docs/loss.md, "Decoding"; docs/python.md, "Decoding").

    d = regionloss.decode(output, anchors)                    # region layer
    d = regionloss.decode(output, anchors_px, layer="yolo", net_size=416)
    d.boxes        # (N, H, W, B, 4): cx, cy, w, h normalised to the image
    d.objectness   # (N, H, W, B)
    d.class_probs  # (N, H, W, B, C)
"""

import sys
from collections import namedtuple

import numpy as np

from ._plan import _anchors_arg
from ._yolo import _net_size_arg

Decoded = namedtuple("Decoded", ["boxes", "objectness", "class_probs"])
Decoded.__doc__ = """A decoded output, slot (n, i, j, b) at [n, i, j, b]:
boxes (N, H, W, B, 4) cx, cy, w, h normalised to the image (the truths'
units), objectness (N, H, W, B) and class_probs (N, H, W, B, C)."""

_LAYERS = ("region", "yolo")
_LAYOUTS = ("nchw", "nhwc")


def _geometry(shape, anchors, layer, layout, num_classes, net_size, what):
    """Checks the arguments against an output shape.  Returns (anchors as
    a (B, 2) float64 array, (N, H, W, B, K), the scale of the anchors:
    (W, H) for the region layer, whose anchors are in grid cells, or
    (net_w, net_h) for a [yolo] head, whose anchors are in pixels)."""
    if layer not in _LAYERS:
        raise ValueError(f"layer = {layer!r}; 'region' (anchors in grid cells) or 'yolo' "
                         "(anchors in pixels, with net_size) expected")
    if layout not in _LAYOUTS:
        raise ValueError(f"layout = {layout!r}; 'nchw' or 'nhwc' expected")
    unit = "grid cells" if layer == "region" else "pixels"
    a = _anchors_arg(anchors, "B", unit).astype(np.float64)
    B = a.shape[0]
    shape = tuple(int(s) for s in shape)
    nchw = layout == "nchw"
    if len(shape) == 4:
        ch = shape[1] if nchw else shape[3]
        N, H, W = (shape[0], shape[2], shape[3]) if nchw else shape[:3]
        if ch % B:
            raise ValueError(f"{what}: shape {shape}; its {ch} channels are not (5 + C) for "
                             f"each of the {B} anchors")
        K = ch // B
    elif len(shape) == 5:
        N, Bo, K, H, W = shape if nchw else (shape[0], shape[3], shape[4], shape[1], shape[2])
        if Bo != B:
            raise ValueError(f"{what}: shape {shape} holds {Bo} anchors; {B} given")
    else:
        raise ValueError(f"{what}: shape {shape}; a {layout} output of 4 (or 5) dimensions "
                         "expected")
    if K < 6:
        raise ValueError(f"{what}: shape {shape}; {K} entries per anchor, 5 + C with C >= 1 "
                         "expected")
    if num_classes is not None and K != 5 + num_classes:
        raise ValueError(f"{what}: shape {shape}; {K} entries per anchor, not 5 + "
                         f"num_classes = {5 + num_classes}")
    if min(N, H, W) < 1:
        raise ValueError(f"{what}: shape {shape} holds no slot")
    if layer == "yolo":
        if net_size is None:
            raise ValueError("net_size: a [yolo] head's anchors are in pixels of the "
                             "network's input: net_size=(width, height) (or one integer) "
                             "is required")
        scale = _net_size_arg(net_size)
    else:
        if net_size is not None:
            raise ValueError("net_size: the region layer's anchors are in grid cells; "
                             "net_size is for layer='yolo'")
        scale = (W, H)
    return a, (N, H, W, B, K), scale


def _np_sigmoid(z):
    e = np.exp(-np.abs(z))
    return np.where(z >= 0, 1.0 / (1.0 + e), e / (1.0 + e))


def decode(output, anchors, *, layer="region", layout="nchw", num_classes=None,
           net_size=None, logistic_classes=False, dtype=np.float64):
    """Boxes, objectness and class probabilities of a raw output (numpy),
    decoded as the loss decodes them (docs/loss.md):

        cx = (j + s(tx)) / W            cy = (i + s(ty)) / H
        w  = aw[b] e^tw / W             h  = ah[b] e^th / H        (region)
        w  = aw[b] e^tw / net_w         h  = ah[b] e^th / net_h    (yolo)
        objectness s(tc)
        class_probs softmax(t[5:]) (region), s(t[5:]) (yolo, or region with
        logistic_classes=True: darknet mode's softmax=0)

    output: a numpy array of floats (float16, float32, float64, or
    ml_dtypes' bfloat16) in the given layout, (N, B*(5+C), H, W) or
    (N, B, 5+C, H, W) for "nchw", (N, H, W, B*(5+C)) or (N, H, W, B, 5+C)
    for "nhwc".  anchors: B (w, h) pairs, in grid cells for the region
    layer, in pixels of the network's input for a [yolo] head (that head's
    anchors: the list's entries at its mask), which needs net_size
    (width, height) or one integer.  num_classes, when given, is checked
    against the shape.  Returns a Decoded of arrays of dtype (float64 by
    default), indexed [n, i, j, b]."""
    if hasattr(output, "detach"):
        raise TypeError("output: a torch tensor; regionloss.torch.decode decodes tensors "
                        "(or pass tensor.numpy())")
    if not isinstance(output, np.ndarray):
        raise TypeError(f"output: a numpy.ndarray expected, got {type(output).__name__}")
    if output.dtype.kind != "f" and output.dtype.name != "bfloat16":
        raise TypeError(f"output: dtype {output.dtype}; floats expected (bfloat16 bits in "
                        "uint16: decode a float32 copy)")
    a, (N, H, W, B, K), (sw, sh) = _geometry(output.shape, anchors, layer, layout,
                                            num_classes, net_size, "output")
    if layout == "nchw":
        t = output.reshape(N, B, K, H, W).transpose(0, 3, 4, 1, 2)
    else:
        t = output.reshape(N, H, W, B, K)
    t = t.astype(np.float64)
    boxes = np.empty((N, H, W, B, 4))
    with np.errstate(over="ignore"):
        boxes[..., 0] = (np.arange(W).reshape(1, 1, W, 1) + _np_sigmoid(t[..., 0])) / W
        boxes[..., 1] = (np.arange(H).reshape(1, H, 1, 1) + _np_sigmoid(t[..., 1])) / H
        boxes[..., 2] = a[:, 0] * np.exp(t[..., 2]) / sw
        boxes[..., 3] = a[:, 1] * np.exp(t[..., 3]) / sh
    obj = _np_sigmoid(t[..., 4])
    logits = t[..., 5:]
    if layer == "yolo" or logistic_classes:
        probs = _np_sigmoid(logits)
    else:
        e = np.exp(logits - logits.max(axis=-1, keepdims=True))
        probs = e / e.sum(axis=-1, keepdims=True)
    return Decoded(boxes.astype(dtype, copy=False), obj.astype(dtype, copy=False),
                   probs.astype(dtype, copy=False))


def decode_torch(output, anchors, *, layer="region", layout="nchw", num_classes=None,
                 net_size=None, logistic_classes=False, dtype=None):
    """regionloss.decode for a torch tensor (any device; float32, bfloat16,
    float16 or float64), computed in dtype (float32 by default) without
    autograd; returns a Decoded of tensors on the output's device."""
    torch = sys.modules["torch"]
    if not isinstance(output, torch.Tensor):
        raise TypeError(f"output: a torch.Tensor expected, got {type(output).__name__} "
                        "(regionloss.decode decodes numpy arrays)")
    if not output.is_floating_point():
        raise TypeError(f"output: dtype {output.dtype}; a floating-point tensor expected")
    dtype = torch.float32 if dtype is None else dtype
    a, (N, H, W, B, K), (sw, sh) = _geometry(output.shape, anchors, layer, layout,
                                            num_classes, net_size, "output")
    with torch.no_grad():
        x = output.detach()
        if layout == "nchw":
            t = x.reshape(N, B, K, H, W).permute(0, 3, 4, 1, 2)
        else:
            t = x.reshape(N, H, W, B, K)
        t = t.to(dtype)
        dev = t.device
        aw = torch.tensor(a[:, 0], dtype=dtype, device=dev)
        ah = torch.tensor(a[:, 1], dtype=dtype, device=dev)
        j = torch.arange(W, dtype=dtype, device=dev).view(1, 1, W, 1)
        i = torch.arange(H, dtype=dtype, device=dev).view(1, H, 1, 1)
        boxes = torch.stack([(j + torch.sigmoid(t[..., 0])) / W,
                             (i + torch.sigmoid(t[..., 1])) / H,
                             aw * torch.exp(t[..., 2]) / sw,
                             ah * torch.exp(t[..., 3]) / sh], dim=-1)
        obj = torch.sigmoid(t[..., 4])
        logits = t[..., 5:]
        if layer == "yolo" or logistic_classes:
            probs = torch.sigmoid(logits)
        else:
            probs = torch.softmax(logits, dim=-1)
    return Decoded(boxes, obj, probs.contiguous())
