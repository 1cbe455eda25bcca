/* Adam / AdamW over a subset of the parameter slab, and the learning-rate schedules.
 *
 * adam_update follows torch.optim.Adam / AdamW (amsgrad off) exactly:
 *   Adam  (decoupled = 0): g ← g + wd·w                    (L2 penalty folded into the gradient)
 *   AdamW (decoupled = 1): w ← w · (1 − lr·wd)             (decoupled decay, before the step)
 *   m ← β1 m + (1 − β1) g;   v ← β2 v + (1 − β2) g²
 *   w ← w − (lr / (1 − β1^t)) · m / (√v / √(1 − β2^t) + eps)
 * with t = step, the 1-based number of this update (PyTorch increments its step before using it).
 * Moments live in P->adam_m / P->adam_v. Gradients are read, not cleared. */
#ifndef RP_ADAM_H
#define RP_ADAM_H

#include "core/params.h"
#include "core/kinds.h"

/* Updates every trainable tensor whose name lies under prefix: the name equals prefix or starts
 * with prefix followed by '/' ("" = all; "backbone" matches "backbone/..." but not "backbone2/...").
 * Buffers (trainable = 0, e.g. batch-norm running statistics) are never touched. */
void adam_update(rp_params *P, const char *prefix, float lr, float beta1, float beta2, float eps,
                 float weight_decay, int decoupled /* AdamW */, long long step);

/* The learning rate for one optimizer step. epoch and step_in_epoch are 0-based; the step's global
 * index is epoch·steps_per_epoch + step_in_epoch.
 *
 * SCHEDULE_TYPE3 reproduces what PatchTST's training loop (exp_main.py, lradj='type3') actually
 * applies per epoch, epoch 0-based here:
 *   - exp_main.py always builds a torch OneCycleLR; its constructor already sets the optimizer's
 *     lr to max_lr / div_factor = base/25, so epoch 0 runs at base/25;
 *   - after each epoch e it calls adjust_learning_rate(epoch = e + 1), whose type3 rule
 *     {epoch < 3: base, else base · 0.9^((epoch − 3) // 1)} sets the lr of epoch e + 1.
 *   Hence lr(0) = base/25, lr(e) = base for e = 1, 2, 3, and lr(e) = base · 0.9^(e − 3) for e ≥ 3.
 * SCHEDULE_ONECYCLE is torch.optim.lr_scheduler.OneCycleLR(max_lr = base, epochs, steps_per_epoch,
 *   pct_start) with its defaults (anneal_strategy 'cos', div_factor 25, final_div_factor 1e4,
 *   three_phase off), stepped once per batch as PatchTST does with lradj='TST': the lr of global
 *   step s is the scheduler's value after s calls to scheduler.step().
 * SCHEDULE_CONSTANT: base_lr throughout (no OneCycleLR artefact).
 * Only the learning rate follows PatchTST: its OneCycleLR (cycle_momentum on) also rewrites Adam's
 * β1 (0.95 all run under type3; 0.95 → 0.85 → 0.95 under onecycle), while reinpatch keeps β1 at
 * 0.9 for every schedule (train/train.c, trainer_update). */
float lr_schedule(rp_schedule kind, double base_lr, int epoch, int step_in_epoch, int steps_per_epoch,
                  int epochs, double pct_start);

#endif
