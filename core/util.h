/* Small shared helpers: wall clock, directories, JSON string output. */
#ifndef RP_UTIL_H
#define RP_UTIL_H

#include <stdio.h>

#include "core/error.h"

double rp_now_seconds(void);               /* monotonic clock */
int rp_mkdir_p(const char *path, rp_error *err);
void rp_json_string(FILE *f, const char *s);/* writes s as a quoted, escaped JSON string */
/* Peak resident set size of this process in bytes (from getrusage). */
long long rp_peak_rss_bytes(void);
/* Number of online CPU cores. */
int rp_cpu_count(void);
/* Mixes integers into a 64-bit seed (for per-step, per-row random streams). */
unsigned long long rp_mix_seed(unsigned long long a, unsigned long long b);

#endif
