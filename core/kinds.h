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

#endif
