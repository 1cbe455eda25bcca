/* Small shared helpers: wall clock, directories, JSON string output. */
#ifndef RP_UTIL_H
#define RP_UTIL_H

#include <stdio.h>

#include "core/error.h"

double rp_now_seconds(void);               /* monotonic clock */
/* User + system CPU time of the process, all threads (getrusage). With one thread, a figure other
 * jobs on the machine disturb far less than wall-clock time. */
double rp_cpu_seconds(void);
int rp_mkdir_p(const char *path, rp_error *err);
void rp_json_string(FILE *f, const char *s);/* writes s as a quoted, escaped JSON string */
/* Peak resident set size of this process in bytes (from getrusage). */
long long rp_peak_rss_bytes(void);
/* Number of online CPU cores. */
int rp_cpu_count(void);
/* Mixes integers into a 64-bit seed (for per-step, per-row random streams). */
unsigned long long rp_mix_seed(unsigned long long a, unsigned long long b);

/* libgomp reads its waiting policy once, while the program loads. Its default lets a waiting
 * thread spin for 300,000 iterations before it sleeps; when other programs hold the cores, every
 * barrier then burns the spinner's time slice while the thread it waits for cannot run (measured:
 * 75x slower on a loaded 2-core machine, docs/results.md). Sleeping at once (PASSIVE) costs a
 * futex wake per parallel region instead, which is 15-25 % of an ETTh1 step on an idle machine.
 * So: when the 1-minute load average is below the number of cores + 1, spin briefly
 * (GOMP_SPINCOUNT=30000, tens of microseconds); otherwise sleep at once (OMP_WAIT_POLICY=PASSIVE).
 * Call first thing in main(): unless the user set OMP_WAIT_POLICY or GOMP_SPINCOUNT, the program
 * re-executes itself once with the choice in its environment. Returns only when no re-exec
 * happened (a policy already set, or exec failed). */
void rp_choose_omp_waiting(char **argv);

#endif
