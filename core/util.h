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
/* Writes v with the printf format fmt (one double conversion, e.g. "%.6f"), or null when v is NaN
 * or infinite: JSON has no nan. Returns 1 when it wrote null, so a writer can fail afterwards. */
int rp_json_number(FILE *f, const char *fmt, double v);

/* Text files written whole or not at all: rp_atomic_open creates "<path>.tmp.<pid>" (its name
 * goes into tmp, RP_ATOMIC_TMP_MAX bytes); rp_atomic_close checks every write succeeded
 * (ferror, fflush, fsync, fclose), then renames it over path. On any failure it removes the
 * temporary file, leaves path as it was and fails with one line naming path and the reason
 * (e.g. "File too large", "No space left on device"). rp_atomic_abort drops the file. */
#define RP_ATOMIC_TMP_MAX 4200
FILE *rp_atomic_open(const char *path, char *tmp, rp_error *err);
int rp_atomic_close(FILE *f, const char *tmp, const char *path, rp_error *err);
void rp_atomic_abort(FILE *f, const char *tmp);

/* An advisory lock (fcntl F_SETLK) on "<dir>/.lock", held until *fd is closed or the process
 * ends, so that two processes never write one run directory. Fails with a one-line message naming dir when
 * another process holds it. */
int rp_lock_dir(const char *dir, int *fd, rp_error *err);

/* Writes lr to buf in the shortest %e form that gives it back to 6 digits ("1e+01", "2.5e-04"). */
void rp_format_lr(char *buf, size_t size, double lr);
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
