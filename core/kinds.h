/* The enums the kernels themselves need (a norm layer's kind, a learning-rate schedule), with
 * their names as recipes spell them. The other recipe enums, whose users all sit above io/, live
 * in io/recipe.h; every enum has exactly one name table, indexed by its values. */
#ifndef RP_KINDS_H
#define RP_KINDS_H

typedef enum { NORM_BATCH, NORM_LAYER } rp_norm_kind;
enum { RP_NORM_KINDS = NORM_LAYER + 1 };
extern const char *const rp_norm_names[RP_NORM_KINDS];

typedef enum { SCHEDULE_TYPE3, SCHEDULE_ONECYCLE, SCHEDULE_CONSTANT } rp_schedule;
enum { RP_SCHEDULES = SCHEDULE_CONSTANT + 1 };
extern const char *const rp_schedule_names[RP_SCHEDULES];

/* What a forward pass runs for. PASS_TRAIN: dropout on, batch norm on batch statistics, a backward
 * follows. PASS_EVAL: no dropout, running statistics; a backward may still follow (the gradient
 * tests check eval-mode gradients). PASS_SCORE: PASS_EVAL's outputs, bit for bit, for a forward
 * that no backward follows (GRPG's rollouts, validation, test, prediction): what only a backward
 * would read is not kept, so the pass writes less memory (docs/results.md, "The learned step's
 * policy side, and a forward that keeps nothing for backward"). 0 and 1 are the `training` flags
 * the forwards took before. Not a recipe key, so it has no name table. */
typedef enum { PASS_EVAL = 0, PASS_TRAIN = 1, PASS_SCORE = 2 } rp_pass;

#endif
