"""regionloss: the YOLOv2 region loss, its parts and its exact gradient.

Python binding of the C library (include/regionloss.h) through ctypes; see
docs/python.md.  numpy is the only dependency; regionloss.torch (the
nn.Module) imports torch.

    plan = regionloss.Plan(anchors, num_classes=20, grid=(13, 13))
    res, grad = plan.compute(pred, targets)     # pred (N, B*(5+C), H, W): float32,
                                                # float16 or bfloat16 (docs/python.md)
"""

from ._lib import Error, path as library_path
from ._lib import version as _version
from ._plan import Plan, variants
from ._result import Counts, DarknetStats, Result
from ._targets import BOX_DTYPE, Targets

__all__ = ["Plan", "Result", "Counts", "DarknetStats", "Targets", "Error", "variants",
           "truths_from_darknet", "version", "library_path", "BOX_DTYPE"]


def version():
    """The C library's version string (rl_version)."""
    return _version().decode()


def truths_from_darknet(buffer, num_classes):
    """Darknet's truth buffer (net.truth) as Targets; see Targets.from_darknet."""
    return Targets.from_darknet(buffer, num_classes)
