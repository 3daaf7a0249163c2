/* The preamble every hand-built differential case shares: a config of the
 * article's mode or of darknet's, with the sizes and anchors the test picks
 * and everything else at the mode's defaults. */
#ifndef RL_TESTCFG_H
#define RL_TESTCFG_H

#include <stdint.h>

#include "regionloss.h"

static inline void rl_test_config(rl_config *cfg, int darknet, int32_t H, int32_t W, int32_t B,
                                  int32_t C, const float *anchors)
{
    if (darknet)
        rl_config_init_darknet(cfg);
    else
        rl_config_init(cfg);
    cfg->H = H;
    cfg->W = W;
    cfg->B = B;
    cfg->C = C;
    cfg->anchors = anchors;
}

#endif
