/* Grouping of training windows into steps: train.batch_unit (train/batching.h). */
#include "train/batching.h"

int batching_step_windows(const rp_recipe *r, const rp_dataset *d) {
    if (r->train.batch_unit == BATCH_UNIT_SAMPLE) return r->train.batch_size * d->channels;
    return r->train.batch_size;
}

int batching_check(const rp_recipe *r, const rp_dataset *d, rp_error *err) {
    if (r->train.batch_unit != BATCH_UNIT_SAMPLE) return 0;
    if (d->channel_rows)
        return rp_fail(err, "train.batch_unit: sample needs one time axis shared by every channel; this dataset "
                       "pools %d series of different lengths (use window)", d->channels);
    if ((long long)r->train.batch_size * d->channels > 0x7fffffff)
        return rp_fail(err, "train.batch_unit: sample: batch_size %d x %d channels overflows an int",
                       r->train.batch_size, d->channels);
    return 0;
}

void batching_epoch_order(const rp_recipe *r, const rp_dataset *d, rp_rng *rng, int *order) {
    const rp_split *sp = &d->split[SPLIT_TRAIN];
    if (r->train.batch_unit != BATCH_UNIT_SAMPLE) {
        for (int i = 0; i < sp->n_windows; i++) order[i] = i;
        rng_shuffle_int(rng, order, sp->n_windows);
        return;
    }
    /* Shuffle the time points in order[0 .. per), then expand each into its C windows in place,
     * from the last: slot i·C + c >= i, so no time point is overwritten before it is read. Window
     * index = channel × per_channel + (start - begin), as dataset_window_origin reads it. */
    int per = sp->per_channel, C = d->channels;
    for (int i = 0; i < per; i++) order[i] = i;
    rng_shuffle_int(rng, order, per);
    for (int i = per - 1; i >= 0; i--) {
        int s = order[i];
        for (int c = C - 1; c >= 0; c--) order[(size_t)i * C + c] = c * per + s;
    }
}
