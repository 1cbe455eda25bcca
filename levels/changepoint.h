/* Changepoint patching: a non-learned adaptive segmentation (docs/levels.md, "Changepoint
 * patching"). It needs no training and is the bar a learned policy has to clear; its scores are
 * also the starting logits of a learned level with policy.init: changepoint.
 *
 * A level's units get one value each: level 0 the RevIN-normalised step x_t, a higher level the
 * mean of x over each lower patch's raw span. The score of gap j (the cut between units j and
 * j+1) is a two-sample mean-shift statistic over CHANGEPOINT_WINDOW units on either side:
 *     score_j = |mean(v[j+1 .. j+w]) − mean(v[j−w+1 .. j])| / (sqrt((var_left + var_right) / 2) + CHANGEPOINT_FLOOR)
 * with population variances and both windows clipped at the ends of the window (each side keeps
 * at least one unit). The floor, in units of the window's own standard deviation (RevIN), keeps a
 * nearly flat stretch from turning rounding noise into large scores.
 *
 * The segmentation is seg_greedy on these scores: the K−1 highest-scoring gaps, chosen one by one
 * among those that still leave a valid exact-K completion under min_len / max_len. A level shift
 * raises the scores of the w gaps on either side of it, peaking at the shift itself, so min_len >=
 * CHANGEPOINT_WINDOW keeps one shift from taking several cuts. */
#ifndef RP_CHANGEPOINT_H
#define RP_CHANGEPOINT_H

#include "levels/segmentation.h"

#define CHANGEPOINT_WINDOW 4
#define CHANGEPOINT_FLOOR 0.1f

/* v[n]: the value of each unit. lower_raw_starts NULL: the units are the L steps of x (n = L);
 * otherwise the n lower patches starting at lower_raw_starts[0..n) (raw steps), each valued by
 * the mean of x over its span (the last one ends at L). */
void changepoint_unit_values(const float *x, int L, const int *lower_raw_starts, int n, float *v);

/* scores[n-1] from v[n] (n >= 2), as above. */
void changepoint_scores(const float *v, int n, float *scores);

/* The changepoint segmentation of one window: starts[spec->K]. values (n) and scores (n-1) are
 * caller-owned scratch; work: seg_workspace_bytes(spec). */
void changepoint_segment(const rp_seg_spec *spec, const float *x, int L, const int *lower_raw_starts,
                         float *values, float *scores, int *starts, void *work);

#endif
