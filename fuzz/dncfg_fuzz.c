/* Fuzz harness for the darknet cfg parser (rl_darknet_cfg_parse,
 * src/darknet_cfg.c), which reads text a user hands the tool and Python.
 *
 * The input's first byte is the layer index asked for (modulo 16); the rest
 * is the cfg text, copied into a buffer of exactly its size (no NUL after
 * it) so that AddressSanitizer sees any read past the end.  Properties, any
 * violation aborts:
 *  - the status is RL_OK or RL_ERR_BAD_ARGUMENT (RL_ERR_NO_MEMORY aside);
 *    a failure leaves *out alone and comes with a message that says where
 *    ("line N: ...", "section N: ..." or "no section ...");
 *  - what the parser accepts, the library accepts: the configuration it
 *    fills makes a plan once the grid is set (anchors positive, mask
 *    indices distinct and in range, thresholds and scales in range);
 *  - parsing twice gives the same configuration. */
#include <stdlib.h>
#include <string.h>

#include "fuzz_driver.h"
#include "regionloss_darknet.h"

static void check_message(void)
{
    const char *m = rl_last_error();
    FUZZ_CHECK(strncmp(m, "line ", 5) == 0 || strncmp(m, "section ", 8) == 0 ||
                   strncmp(m, "no section", 10) == 0,
               "message does not say where: '%s'", m);
}

static void check_region(const rl_darknet_cfg *c)
{
    rl_config r;
    FUZZ_CHECK(rl_darknet_cfg_region(c, &r) == RL_OK, "%s", rl_last_error());
    r.H = 2;
    r.W = 3;
    rl_plan *plan = NULL;
    rl_status st = rl_plan_create(&r, &plan);
    /* a huge B or C may not fit in memory; anything else must be accepted */
    FUZZ_CHECK(st == RL_OK || st == RL_ERR_NO_MEMORY || st == RL_ERR_BAD_SIZE,
               "parsed [region] refused by rl_plan_create: %s", rl_last_error());
    rl_plan_destroy(plan);
}

static void check_yolo(const rl_darknet_cfg *c)
{
    rl_yolo_config y;
    rl_yolo_head head;
    FUZZ_CHECK(rl_darknet_cfg_yolo(c, &y, &head) == RL_OK, "%s", rl_last_error());
    FUZZ_CHECK(y.heads == &head && y.n_heads == 1 && head.B >= 1, "head not filled");
    head.H = 2;
    head.W = 3;
    rl_yolo_plan *plan = NULL;
    rl_status st = rl_yolo_plan_create(&y, &plan);
    FUZZ_CHECK(st == RL_OK || st == RL_ERR_NO_MEMORY || st == RL_ERR_BAD_SIZE,
               "parsed [yolo] refused by rl_yolo_plan_create: %s", rl_last_error());
    rl_yolo_plan_destroy(plan);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size < 1)
        return 0;
    const int32_t layer = data[0] % 16;
    const size_t len = size - 1;
    char *text = malloc(len ? len : 1);
    FUZZ_CHECK(text, "out of memory");
    memcpy(text, data + 1, len);
    rl_darknet_cfg *sentinel = (rl_darknet_cfg *)(uintptr_t)0x10;
    rl_darknet_cfg *c = sentinel;
    rl_status st = rl_darknet_cfg_parse(text, len, layer, &c);
    if (st != RL_OK) {
        FUZZ_CHECK(st == RL_ERR_BAD_ARGUMENT || st == RL_ERR_NO_MEMORY, "status %s: %s",
                   rl_status_name(st), rl_last_error());
        FUZZ_CHECK(c == sentinel, "*out written on failure");
        if (st == RL_ERR_BAD_ARGUMENT)
            check_message();
        free(text);
        return 0;
    }
    const int32_t type = rl_darknet_cfg_type(c);
    FUZZ_CHECK(type == RL_DARKNET_REGION || type == RL_DARKNET_YOLO, "type %d", (int)type);
    FUZZ_CHECK(rl_darknet_cfg_line(c) >= 2, "header line %d", (int)rl_darknet_cfg_line(c));
    rl_darknet_cfg *again = NULL;
    FUZZ_CHECK(rl_darknet_cfg_parse(text, len, layer, &again) == RL_OK, "second parse failed");
    if (type == RL_DARKNET_REGION) {
        check_region(c);
        rl_config a, b;
        rl_darknet_cfg_region(c, &a);
        rl_darknet_cfg_region(again, &b);
        FUZZ_CHECK(a.B == b.B && a.C == b.C && a.thresh == b.thresh &&
                       memcmp(a.anchors, b.anchors, 2 * (size_t)a.B * sizeof(float)) == 0,
                   "two parses differ");
    } else {
        check_yolo(c);
        rl_yolo_config a, b;
        rl_yolo_head ha, hb;
        rl_darknet_cfg_yolo(c, &a, &ha);
        rl_darknet_cfg_yolo(again, &b, &hb);
        FUZZ_CHECK(a.C == b.C && a.n_anchors == b.n_anchors && ha.B == hb.B &&
                       a.ignore_thresh == b.ignore_thresh && a.net_w == b.net_w &&
                       memcmp(ha.mask, hb.mask, (size_t)ha.B * sizeof(int32_t)) == 0,
                   "two parses differ");
    }
    rl_darknet_cfg_destroy(again);
    rl_darknet_cfg_destroy(c);
    free(text);
    return 0;
}
