"""regionloss: the YOLOv2 region loss, its parts and its exact gradient.

Python binding of the C library (include/regionloss.h) through ctypes; see
docs/python.md.  numpy is the only dependency; regionloss.torch (the
nn.Module) imports torch.

    plan = regionloss.Plan(anchors, num_classes=20, grid=(13, 13))
    res, grad = plan.compute(pred, targets)     # pred (N, B*(5+C), H, W): float32,
                                                # float16 or bfloat16 (docs/python.md)

    yolo = regionloss.YoloPlan(anchors_px, num_classes=80,     # darknet's [yolo] heads
                               heads=[(13, 13, [6, 7, 8]), (26, 26, [3, 4, 5])],
                               net_size=416)
    res, grads = yolo.compute([p13, p26], targets)   # res.heads: a Result per head

    opts = regionloss.darknet_options(open("yolov3.cfg").read(), [82, 94, 106])
    crit = regionloss.torch.YoloLoss(**opts)   # a darknet cfg's [yolo] / [region] sections

    d = regionloss.decode(pred, anchors)   # boxes, objectness, class_probs as the
                                           # loss decodes them (docs/python.md)
"""

from ._darknet_cfg import DarknetOptions, darknet_options
from ._decode import Decoded, decode
from ._lib import Error, path as library_path
from ._lib import version as _version
from ._plan import Plan, variants
from ._result import Counts, DarknetStats, Result, YoloResult
from ._targets import BOX_DTYPE, Targets
from ._yolo import YoloPlan

__all__ = ["Plan", "YoloPlan", "Result", "YoloResult", "Counts", "DarknetStats", "Targets",
           "Error", "variants", "truths_from_darknet", "version", "library_path", "BOX_DTYPE",
           "decode", "Decoded", "darknet_options", "DarknetOptions"]


def version():
    """The C library's version string (rl_version)."""
    return _version().decode()


def truths_from_darknet(buffer, num_classes):
    """Darknet's truth buffer (net.truth) as Targets; see Targets.from_darknet."""
    return Targets.from_darknet(buffer, num_classes)
