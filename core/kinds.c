#include "core/kinds.h"

#define RP_LENGTH(a) (sizeof(a) / sizeof *(a))

const char *const rp_norm_names[] = {[NORM_BATCH] = "batch", [NORM_LAYER] = "layer"};
_Static_assert(RP_LENGTH(rp_norm_names) == RP_NORM_KINDS, "one name per norm kind");

const char *const rp_schedule_names[] = {
    [SCHEDULE_TYPE3] = "type3", [SCHEDULE_ONECYCLE] = "onecycle", [SCHEDULE_CONSTANT] = "constant"};
_Static_assert(RP_LENGTH(rp_schedule_names) == RP_SCHEDULES, "one name per schedule");
