"""regionloss.darknet_options: the keyword arguments of a darknet cfg's
[yolo] or [region] section, read by the C library's parser
(rl_darknet_cfg_parse), the one the command-line tool uses too.

    text = open("yolov3.cfg").read()
    crit = regionloss.torch.YoloLoss(**regionloss.darknet_options(text, [82, 94, 106]))
    ab = regionloss.darknet_options(text, [82, 94, 106], flavour="alexeyab")
"""

import ctypes
import numbers

from . import _lib

# The configuration's fields each layer's keywords are read from: (keyword,
# field).  An option the library gains is one line.
_YOLO_FIELDS = (("ignore_thresh", "ignore_thresh"), ("truth_thresh", "truth_thresh"))
_REGION_FIELDS = (("lambda_coord", "lambda_coord"), ("lambda_class", "lambda_class"),
                  ("lambda_obj", "lambda_obj"), ("lambda_noobj", "lambda_noobj"),
                  ("thresh", "thresh"))
_REGION_FLAGS = (("rescore", "rescore"), ("logistic_classes", "logistic_classes"))
# flavour "alexeyab": AlexeyAB's options, named as its keys and as the
# keywords of YoloPlan / YoloLoss and Plan / RegionLoss
_AB_YOLO_NUMBERS = ("iou_normalizer", "cls_normalizer", "obj_normalizer", "scale_x_y",
                    "iou_thresh", "label_smooth_eps", "max_delta", "focal_loss", "new_coords",
                    "objectness_smooth", "max_boxes", "show_details")
_AB_YOLO_KINDS = ("iou_loss", "iou_thresh_kind")
_FLAVOUR_NAMES = {v: k for k, v in _lib.FLAVOURS.items()}
_KIND_NAMES = {v: k for k, v in _lib.BOX_LOSSES.items()}


class DarknetOptions(dict):
    """The keyword arguments of regionloss.torch.YoloLoss / regionloss.YoloPlan
    (``layer == "yolo"``) or regionloss.torch.RegionLoss / regionloss.Plan
    (``layer == "region"``) that a cfg section stands for.  A dict, so
    ``YoloLoss(**opts)``; ``layer``, ``sections`` (darknet's layer indices)
    and ``lines`` (of the section headers) say where they came from.  A
    YoloPlan takes ``heads`` rather than ``masks``: ``opts.heads(grids)``."""

    def __init__(self, layer, sections, lines, options):
        super().__init__(options)
        self.layer = layer
        self.sections = tuple(sections)
        self.lines = tuple(lines)

    def heads(self, grids):
        """[yolo]: YoloPlan's heads, (H, W, mask) with grids[h] = (H, W) of
        head h, in the order of the sections."""
        if self.layer != "yolo":
            raise ValueError("heads(): a [region] layer has no heads")
        if len(grids) != len(self["masks"]):
            raise ValueError(f"heads(): {len(grids)} grids for {len(self['masks'])} sections")
        return [(int(H), int(W), list(m)) for (H, W), m in zip(grids, self["masks"])]

    def plan_options(self, grids):
        """The keywords of YoloPlan (heads from grids) or Plan (grid = grids,
        one (H, W)): the same options with the grid the cfg does not hold."""
        opts = dict(self)
        if self.layer == "yolo":
            opts["heads"] = self.heads(grids)
            del opts["masks"]
        else:
            opts["grid"] = tuple(grids)
        return opts

    def __repr__(self):
        return (f"DarknetOptions(layer={self.layer!r}, sections={self.sections}, "
                f"{dict.__repr__(self)})")


def _section_arg(section):
    if isinstance(section, bool) or not isinstance(section, numbers.Integral):
        raise TypeError(f"section = {section!r}; darknet's layer index (an integer) expected")
    section = int(section)
    if not 0 <= section < 2 ** 31:
        raise ValueError(f"section {section}: darknet's layers are numbered from 0 (the first "
                         "section after [net])")
    return section


def _flavour_arg(flavour):
    if flavour is None:
        return _lib.DARKNET_CFG_AUTO
    if isinstance(flavour, str) and flavour in _lib.FLAVOURS:
        return _lib.FLAVOURS[flavour]
    raise ValueError(f"flavour = {flavour!r}; \"pjreddie\" or \"alexeyab\" expected (None: "
                     "as the section's options say)")


def _parse(data, section, flavour):
    handle = ctypes.c_void_p()
    st = _lib.darknet_cfg_parse_flavour(data, len(data), section, flavour,
                                        ctypes.byref(handle))
    if st != _lib.RL_OK:
        raise ValueError(_lib.last_error().decode(errors="replace"))
    return handle


def _one(data, section, flavour):
    """(layer, line, options) of one section."""
    handle = _parse(data, section, flavour)
    try:
        line = _lib.darknet_cfg_line(handle)
        if _lib.darknet_cfg_type(handle) == _lib.DARKNET_YOLO:
            cfg, head = _lib.rl_yolo_config(), _lib.rl_yolo_head()
            _lib.check(_lib.darknet_cfg_yolo(handle, ctypes.byref(cfg), ctypes.byref(head)))
            anchors = ctypes.cast(cfg.anchors, ctypes.POINTER(ctypes.c_float))
            mask = ctypes.cast(head.mask, ctypes.POINTER(ctypes.c_int32))
            opts = {"anchors": [anchors[k] for k in range(2 * cfg.n_anchors)],
                    "num_classes": cfg.C,
                    "masks": [[mask[b] for b in range(head.B)]],
                    "net_size": (cfg.net_w, cfg.net_h)}
            opts.update((k, getattr(cfg, f)) for k, f in _YOLO_FIELDS)
            opts["flavour"] = _FLAVOUR_NAMES[cfg.flavour]
            if cfg.flavour == _lib.YOLO_FLAVOURS["alexeyab"]:
                opts.update((k, _KIND_NAMES[getattr(cfg, k)]) for k in _AB_YOLO_KINDS)
                opts.update((k, getattr(cfg, k)) for k in _AB_YOLO_NUMBERS)
                counters = None
                if cfg.counters_per_class:
                    c = ctypes.cast(cfg.counters_per_class, ctypes.POINTER(ctypes.c_int32))
                    counters = [c[k] for k in range(cfg.C)]
                opts["counters_per_class"] = counters
            return "yolo", line, opts
        cfg = _lib.rl_config()
        _lib.check(_lib.darknet_cfg_region(handle, ctypes.byref(cfg)))
        anchors = ctypes.cast(cfg.anchors, ctypes.POINTER(ctypes.c_float))
        opts = {"anchors": [anchors[k] for k in range(2 * cfg.B)], "num_classes": cfg.C,
                "mode": "darknet"}
        opts.update((k, getattr(cfg, f)) for k, f in _REGION_FIELDS)
        opts.update((k, bool(getattr(cfg, f))) for k, f in _REGION_FLAGS)
        opts["flavour"] = _FLAVOUR_NAMES[cfg.flavour]
        if cfg.flavour == _lib.FLAVOURS["alexeyab"]:
            opts["classfix"] = cfg.classfix
            opts["focal_loss"] = bool(cfg.focal_loss)
        return "region", line, opts
    finally:
        _lib.darknet_cfg_destroy(handle)


def darknet_options(cfg_text, section, flavour=None):
    """The options of the [yolo] or [region] layer at darknet's layer index
    ``section`` (0: the first section after [net], as darknet numbers them
    at load) of the cfg text ``cfg_text`` (str or bytes), as a
    DarknetOptions dict of keyword arguments (docs/python.md):

    [yolo]   anchors (pixels), num_classes, masks, net_size, ignore_thresh,
             truth_thresh, flavour: regionloss.torch.YoloLoss(**opts); with
             flavour "alexeyab" also iou_loss, iou_thresh_kind,
             iou_normalizer, cls_normalizer, obj_normalizer, scale_x_y,
             iou_thresh, label_smooth_eps, max_delta, focal_loss, new_coords,
             objectness_smooth, max_boxes (the cfg's max), show_details,
             counters_per_class (None when the cfg has none)
    [region] anchors (grid cells), num_classes, mode="darknet", lambda_coord,
             lambda_class, lambda_obj, lambda_noobj, thresh, rescore,
             logistic_classes, flavour: regionloss.torch.RegionLoss(**opts);
             with flavour "alexeyab" also classfix and focal_loss

    ``flavour``: None reads a section that has an option only AlexeyAB's
    darknet reads (scale_x_y, iou_loss, nms_kind, ..., classfix other than
    0) as AlexeyAB's layer, with AlexeyAB's defaults for what it leaves out,
    and any other as pjreddie's.  "alexeyab" or "pjreddie" choose: AlexeyAB's
    darknet trains even a plain yolov3.cfg with its own defaults
    (iou_normalizer 0.75 scales the box deltas), so give "alexeyab" to
    reproduce it; with "pjreddie" an AlexeyAB option is an error.

    ``section`` may be a list of [yolo] sections, one per head in the order
    of the outputs: masks then holds one mask per section, and every other
    option must be the same in all of them.  The grids are not in the cfg
    (the modules read them from the outputs).  A bad cfg (a value that is not
    a number, a wrong count of anchors, a mask index out of range, an option
    the library does not compute, an unknown option, ...) raises ValueError
    with the library's message, which names the line, the key and the
    value."""
    if isinstance(cfg_text, str):
        data = cfg_text.encode("utf-8")
    elif isinstance(cfg_text, (bytes, bytearray, memoryview)):
        data = bytes(cfg_text)
    else:
        raise TypeError(f"cfg_text: the cfg's text (str or bytes) expected, got "
                        f"{type(cfg_text).__name__}; pass open(path).read()")
    if isinstance(section, (list, tuple)):
        sections = [_section_arg(s) for s in section]
        if not sections:
            raise ValueError("section: an empty list; one [yolo] section per head expected")
    else:
        sections = [_section_arg(section)]
    if len(set(sections)) != len(sections):
        raise ValueError(f"section: {sections} names a section twice; each head is one section")
    if len(sections) > _lib.YOLO_MAX_HEADS:
        raise ValueError(f"section: {len(sections)} sections; a network has at most "
                         f"{_lib.YOLO_MAX_HEADS} heads")
    flavour = _flavour_arg(flavour)
    layers = [_one(data, s, flavour) for s in sections]
    layer, _, opts = layers[0]
    if len(sections) > 1:
        for s, (kind, line, other) in zip(sections, layers):
            if kind != "yolo":
                raise ValueError(f"section {s} (line {line}) is a [region] layer: a list of "
                                 "sections is the [yolo] heads of one network")
        for s, (_, line, other) in zip(sections[1:], layers[1:]):
            if other["flavour"] != opts["flavour"]:
                raise ValueError(f"section {s} (line {line}) is read as {other['flavour']}'s "
                                 f"layer, section {sections[0]} as {opts['flavour']}'s: a "
                                 "section with an option only AlexeyAB's darknet reads is "
                                 "AlexeyAB's; flavour= reads every section as one flavour")
            for key, value in other.items():
                if key != "masks" and value != opts[key]:
                    raise ValueError(f"section {s} (line {line}) has {key} = {value!r}, "
                                     f"section {sections[0]} {opts[key]!r}: the heads of one "
                                     "loss share it; make a loss per head")
        opts = dict(opts, masks=[m for _, _, o in layers for m in o["masks"]])
    return DarknetOptions(layer, sections, [line for _, line, _ in layers], opts)
