/* Prints the size and every field offset of the public structs, as the
 * compiler lays them out from include/regionloss.h, one "struct field
 * offset" line each ("struct - size" for the size).  test_abi.py compares
 * them with the ctypes declarations of python/regionloss/_lib.py, which are
 * a second copy of the header and must not drift from it. */
#include <stddef.h>
#include <stdio.h>

#include "regionloss.h"

#define SIZE(s) printf(#s " - %zu\n", sizeof(s))
#define FIELD(s, f) printf(#s " " #f " %zu\n", offsetof(s, f))

int main(void)
{
    SIZE(rl_config);
    FIELD(rl_config, H); FIELD(rl_config, W); FIELD(rl_config, B); FIELD(rl_config, C);
    FIELD(rl_config, anchors); FIELD(rl_config, layout); FIELD(rl_config, mode);
    FIELD(rl_config, lambda_coord); FIELD(rl_config, lambda_class);
    FIELD(rl_config, lambda_obj); FIELD(rl_config, lambda_noobj);
    FIELD(rl_config, thresh); FIELD(rl_config, norm); FIELD(rl_config, grad_mode);
    FIELD(rl_config, variant); FIELD(rl_config, threads); FIELD(rl_config, rescore);
    FIELD(rl_config, logistic_classes); FIELD(rl_config, pred_dtype);
    FIELD(rl_config, grad_dtype); FIELD(rl_config, warmup_seen);
    FIELD(rl_config, warmup_scale); FIELD(rl_config, flavour); FIELD(rl_config, classfix);
    FIELD(rl_config, focal_loss);

    SIZE(rl_counts);
    FIELD(rl_counts, n_obj); FIELD(rl_counts, n_noobj); FIELD(rl_counts, n_conf);
    FIELD(rl_counts, n_images);

    SIZE(rl_box);
    FIELD(rl_box, cx); FIELD(rl_box, cy); FIELD(rl_box, w); FIELD(rl_box, h);
    FIELD(rl_box, cls);

    SIZE(rl_batch);
    FIELD(rl_batch, n_images); FIELD(rl_batch, pred); FIELD(rl_batch, truths);
    FIELD(rl_batch, truth_offsets); FIELD(rl_batch, seen); FIELD(rl_batch, global_counts);
    FIELD(rl_batch, workspace); FIELD(rl_batch, workspace_size);

    SIZE(rl_darknet_stats);
    FIELD(rl_darknet_stats, avg_iou); FIELD(rl_darknet_stats, recall);
    FIELD(rl_darknet_stats, recall75); FIELD(rl_darknet_stats, avg_cls);
    FIELD(rl_darknet_stats, avg_obj); FIELD(rl_darknet_stats, avg_anyobj);
    FIELD(rl_darknet_stats, count); FIELD(rl_darknet_stats, cost);

    SIZE(rl_result);
    FIELD(rl_result, loss); FIELD(rl_result, coord); FIELD(rl_result, cls);
    FIELD(rl_result, obj); FIELD(rl_result, noobj); FIELD(rl_result, warmup);
    FIELD(rl_result, n_obj); FIELD(rl_result, n_noobj); FIELD(rl_result, n_conf);
    FIELD(rl_result, n_truths); FIELD(rl_result, avg_iou); FIELD(rl_result, recall50);
    FIELD(rl_result, recall75); FIELD(rl_result, avg_obj); FIELD(rl_result, avg_noobj);
    FIELD(rl_result, avg_cls); FIELD(rl_result, sum_iou); FIELD(rl_result, sum_obj);
    FIELD(rl_result, sum_noobj); FIELD(rl_result, sum_cls); FIELD(rl_result, n_recall50);
    FIELD(rl_result, n_recall75); FIELD(rl_result, darknet); FIELD(rl_result, variant);

    SIZE(rl_yolo_head);
    FIELD(rl_yolo_head, H); FIELD(rl_yolo_head, W); FIELD(rl_yolo_head, B);
    FIELD(rl_yolo_head, mask);

    SIZE(rl_yolo_config);
    FIELD(rl_yolo_config, n_heads); FIELD(rl_yolo_config, heads); FIELD(rl_yolo_config, C);
    FIELD(rl_yolo_config, n_anchors); FIELD(rl_yolo_config, anchors);
    FIELD(rl_yolo_config, net_w); FIELD(rl_yolo_config, net_h); FIELD(rl_yolo_config, layout);
    FIELD(rl_yolo_config, pred_dtype); FIELD(rl_yolo_config, grad_dtype);
    FIELD(rl_yolo_config, lambda_coord); FIELD(rl_yolo_config, lambda_class);
    FIELD(rl_yolo_config, lambda_obj); FIELD(rl_yolo_config, lambda_noobj);
    FIELD(rl_yolo_config, ignore_thresh); FIELD(rl_yolo_config, truth_thresh);
    FIELD(rl_yolo_config, norm); FIELD(rl_yolo_config, grad_mode);
    FIELD(rl_yolo_config, variant); FIELD(rl_yolo_config, threads);
    FIELD(rl_yolo_config, box_loss); FIELD(rl_yolo_config, flavour);
    FIELD(rl_yolo_config, iou_loss); FIELD(rl_yolo_config, iou_thresh_kind);
    FIELD(rl_yolo_config, focal_loss); FIELD(rl_yolo_config, new_coords);
    FIELD(rl_yolo_config, objectness_smooth); FIELD(rl_yolo_config, max_boxes);
    FIELD(rl_yolo_config, show_details); FIELD(rl_yolo_config, iou_normalizer);
    FIELD(rl_yolo_config, cls_normalizer); FIELD(rl_yolo_config, obj_normalizer);
    FIELD(rl_yolo_config, scale_x_y); FIELD(rl_yolo_config, iou_thresh);
    FIELD(rl_yolo_config, label_smooth_eps); FIELD(rl_yolo_config, max_delta);
    FIELD(rl_yolo_config, counters_per_class);
    FIELD(rl_yolo_config, classes_multipliers);

    SIZE(rl_yolo_batch);
    FIELD(rl_yolo_batch, n_images); FIELD(rl_yolo_batch, preds); FIELD(rl_yolo_batch, truths);
    FIELD(rl_yolo_batch, truth_offsets); FIELD(rl_yolo_batch, global_counts);
    FIELD(rl_yolo_batch, workspace); FIELD(rl_yolo_batch, workspace_size);

    /* constants the binding repeats */
    printf("constant RL_YOLO_MAX_HEADS %d\n", RL_YOLO_MAX_HEADS);
    printf("constant RL_NORM_SUM %d\n", (int)RL_NORM_SUM);
    printf("constant RL_FLAVOUR_PJREDDIE %d\n", (int)RL_FLAVOUR_PJREDDIE);
    printf("constant RL_FLAVOUR_ALEXEYAB %d\n", (int)RL_FLAVOUR_ALEXEYAB);
    printf("constant RL_NORM_IMAGES %d\n", (int)RL_NORM_IMAGES);
    printf("constant RL_YOLO_FLAVOUR_PJREDDIE %d\n", (int)RL_YOLO_FLAVOUR_PJREDDIE);
    printf("constant RL_YOLO_FLAVOUR_ALEXEYAB %d\n", (int)RL_YOLO_FLAVOUR_ALEXEYAB);
    printf("constant RL_BOX_MSE %d\n", (int)RL_BOX_MSE);
    printf("constant RL_BOX_IOU %d\n", (int)RL_BOX_IOU);
    printf("constant RL_BOX_GIOU %d\n", (int)RL_BOX_GIOU);
    printf("constant RL_BOX_DIOU %d\n", (int)RL_BOX_DIOU);
    printf("constant RL_BOX_CIOU %d\n", (int)RL_BOX_CIOU);
    return 0;
}
