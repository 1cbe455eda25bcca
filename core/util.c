#include "core/util.h"

#include <errno.h>
#include <fcntl.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

double rp_now_seconds(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}

int rp_mkdir_p(const char *path, rp_error *err) {
    char buf[4096];
    size_t n = strlen(path);
    if (n == 0 || n >= sizeof buf) return rp_fail(err, "bad directory path '%s'", path);
    memcpy(buf, path, n + 1);
    for (size_t i = 1; i <= n; i++) {
        if (buf[i] == '/' || buf[i] == '\0') {
            char c = buf[i];
            buf[i] = '\0';
            if (mkdir(buf, 0777) != 0 && errno != EEXIST)
                return rp_fail(err, "cannot create directory '%s': %s", buf, strerror(errno));
            buf[i] = c;
        }
    }
    struct stat st;
    if (stat(path, &st) != 0 || !S_ISDIR(st.st_mode)) return rp_fail(err, "'%s' exists and is not a directory", path);
    return 0;
}

void rp_json_string(FILE *f, const char *s) {
    fputc('"', f);
    for (const unsigned char *p = (const unsigned char *)(s ? s : ""); *p; p++) {
        switch (*p) {
        case '"': fputs("\\\"", f); break;
        case '\\': fputs("\\\\", f); break;
        case '\n': fputs("\\n", f); break;
        case '\r': fputs("\\r", f); break;
        case '\t': fputs("\\t", f); break;
        default:
            if (*p < 0x20) fprintf(f, "\\u%04x", *p);
            else fputc(*p, f);
        }
    }
    fputc('"', f);
}

int rp_json_number(FILE *f, const char *fmt, double v) {
    if (isfinite(v)) {
        fprintf(f, fmt, v);
        return 0;
    }
    fputs("null", f);
    return 1;
}

FILE *rp_atomic_open(const char *path, char *tmp, rp_error *err) {
    int n = snprintf(tmp, RP_ATOMIC_TMP_MAX, "%s.tmp.%ld", path, (long)getpid());
    if (n < 0 || n >= RP_ATOMIC_TMP_MAX) {
        rp_fail(err, "%s: path too long", path);
        return NULL;
    }
    FILE *f = fopen(tmp, "w");
    if (!f) rp_fail(err, "cannot write %s: %s", path, strerror(errno));
    return f;
}

void rp_atomic_abort(FILE *f, const char *tmp) {
    if (f) fclose(f);
    remove(tmp);
}

int rp_atomic_close(FILE *f, const char *tmp, const char *path, rp_error *err) {
    /* errno after a failed fflush says why (EFBIG, ENOSPC); ferror alone would not. */
    errno = 0;
    int bad = fflush(f) != 0 || ferror(f);
    int e = errno ? errno : EIO;
    if (!bad && fsync(fileno(f)) != 0) {
        bad = 1;
        e = errno;
    }
    if (fclose(f) != 0 && !bad) {
        bad = 1;
        e = errno;
    }
    if (!bad && rename(tmp, path) != 0) {
        bad = 1;
        e = errno;
    }
    if (bad) {
        remove(tmp);
        return rp_fail(err, "cannot write %s: %s (left as it was)", path, strerror(e));
    }
    return 0;
}

int rp_lock_dir(const char *dir, int *fd, rp_error *err) {
    char path[4200];
    snprintf(path, sizeof path, "%s/.lock", dir);
    int f = open(path, O_RDWR | O_CREAT | O_CLOEXEC, 0644);
    if (f < 0) return rp_fail(err, "%s: cannot create the lock file .lock: %s", dir, strerror(errno));
    /* A POSIX record lock: released by the kernel when the process ends, however it ends. */
    struct flock lk = {.l_type = F_WRLCK, .l_whence = SEEK_SET, .l_start = 0, .l_len = 0};
    if (fcntl(f, F_SETLK, &lk) != 0) {
        int e = errno;
        close(f);
        if (e == EACCES || e == EAGAIN)
            return rp_fail(err, "%s: another reinpatch process is writing into this directory (it holds %s); "
                           "wait for it or choose another directory", dir, path);
        return rp_fail(err, "%s: cannot lock %s: %s", dir, path, strerror(e));
    }
    *fd = f;
    return 0;
}

void rp_format_lr(char *buf, size_t size, double lr) {
    for (int digits = 0; digits < 7; digits++) {
        snprintf(buf, size, "%.*e", digits, lr);
        if (fabs(strtod(buf, NULL) - lr) <= 1e-6 * fabs(lr)) return;
    }
}

double rp_cpu_seconds(void) {
    struct rusage ru;
    getrusage(RUSAGE_SELF, &ru);
    return (double)ru.ru_utime.tv_sec + (double)ru.ru_stime.tv_sec +
           1e-6 * ((double)ru.ru_utime.tv_usec + (double)ru.ru_stime.tv_usec);
}

long long rp_peak_rss_bytes(void) {
    struct rusage ru;
    getrusage(RUSAGE_SELF, &ru);
    return (long long)ru.ru_maxrss * 1024;
}

int rp_cpu_count(void) {
    long n = sysconf(_SC_NPROCESSORS_ONLN);
    return n > 0 ? (int)n : 1;
}

unsigned long long rp_mix_seed(unsigned long long a, unsigned long long b) {
    unsigned long long z = a * 0x9E3779B97F4A7C15ull + b + 0x632BE59BD9B4E019ull;
    z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
    z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
    return z ^ (z >> 31);
}

/* The 1-minute load average, or -1 when /proc/loadavg cannot be read. */
static double load_average_1min(void) {
    FILE *f = fopen("/proc/loadavg", "r");
    if (!f) return -1.0;
    double load = -1.0;
    if (fscanf(f, "%lf", &load) != 1) load = -1.0;
    fclose(f);
    return load;
}

void rp_choose_omp_waiting(char **argv) {
    if (getenv("OMP_WAIT_POLICY") || getenv("GOMP_SPINCOUNT")) return;
    double load = load_average_1min();
    int ok = (load >= 0.0 && load < rp_cpu_count() + 1.0) ? setenv("GOMP_SPINCOUNT", "30000", 1)
                                                              : setenv("OMP_WAIT_POLICY", "PASSIVE", 1);
    if (ok != 0) return;
    execv("/proc/self/exe", argv);
}
