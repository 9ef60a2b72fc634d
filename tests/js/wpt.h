/*
 * wpt.h: what the files of the WPT runner share (wpt_run.c: main, the
 * report; wpt_files.c: the expectations and the files of a run; wpt_exec.c:
 * running files on reactors; wpt_check.c: checking and --update). See
 * wpt_run.c for what the runner does.
 */
#ifndef ISOCORE_WPT_H
#define ISOCORE_WPT_H

#include <jansson.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdio.h>

#include "isocore.h"

#define MAX_SCRIPTS 16
#define MAX_VARIANTS 64
#define CHECK_LINES 20 /* mismatches shown per file (all with -v) */
#define STAR_MIN 10    /* --update lists a file whose subtests all fail with "*" from this many on */

extern const char *const STATUS[5];
extern const char *const HARNESS_STATUS[4];
extern const char *const PLACEHOLDER;

/* Pseudo-subtests that stand for the file itself in the expectations. */
#define SUB_FILE "[file]"       /* the worker did not load, crashed, or was cut by the wall-clock limit */
#define SUB_HARNESS "[harness]" /* the harness status was not OK (an error at top level, a harness timeout) */

typedef struct sbuf {
    char *p;
    size_t len, cap;
} sbuf_t;

/*
 * The expectations file holds one JSON array a line (lines starting with #
 * and blank lines are comments):
 *   ["dir", "streams"]                          a directory the full run covers
 *   ["skip", "path or dir/", "reason"]          not run, and why
 *   ["serve", "path", "reason"]                 a data file that fetch() gets, as from the WPT server, in the
 *                                               tests that name it (the glue's [before] section)
 *   ["fail", "file", "subtest", "reason"]       a subtest known to fail ("*": every subtest of the file)
 *   ["flaky", "file", "subtest", "reason"]      either result is accepted
 * "file" is the path under the WPT folder, with the variant when the file has variants.
 */
typedef enum { EXP_DIR, EXP_SKIP, EXP_SERVE, EXP_FAIL, EXP_FLAKY } exp_kind_t;

typedef struct expectation {
    exp_kind_t kind;
    char *path;
    char *sub;
    char *reason;
    bool seen; /* a fail/flaky entry whose subtest was in this run */
} exp_t;

struct wpt_expectations {
    exp_t *e;
    unsigned n, cap;
};
extern struct wpt_expectations wpt_exp;

typedef struct subtest {
    char *name;
    int status;
    char *message;
} subtest_t;

typedef struct wpt_file {
    char *path;    /* under the WPT folder */
    char *variant; /* "" or "?1-10" */
    char *id;      /* path + variant: the key of the expectations */
    char *group;   /* the listed directory it counts under */
    bool long_timeout;
    bool strict; /* the file starts with "use strict" */
    char *scripts[MAX_SCRIPTS];
    unsigned nscripts;
    const char *skip; /* why it is not run, or NULL */
    /* results: written by the reactor that ran it */
    bool ran;
    bool rerun;  /* timed out in the busy first round: these are the results of its second run */
    char *error; /* the file did not run to its end: why */
    bool cut;    /* stopped by the wall-clock limit (the subtests are what was known then) */
    int harness;
    char *harness_msg;
    subtest_t *subs;
    unsigned nsubs;
    double ms;
} wpt_file_t;

/* The run: its files and settings (main fills it; the reactors write their files' results). */
struct wpt_run {
    const char *wpt; /* the WPT folder */
    char *sec_before, *sec_after, *sec_end;
    char *harness_src;
    wpt_file_t *f;
    unsigned n, cap;
    unsigned cpu_ms;
    double mult;
    unsigned wall_ms; /* overrides the wall-clock limit of every file (0: 60 s, long 120 s, times mult) */
    unsigned per_reactor;
    _Atomic unsigned next;     /* index of the next file to start */
    _Atomic unsigned finished; /* files done */
    _Atomic bool stopping;     /* a stop came before the end (a signal): start nothing more */
    unsigned to_run;           /* files not skipped */
    unsigned *order;           /* indexes of the files to run */
    bool verbose;
    bool full; /* no PATH given: every listed directory ran */
};
extern struct wpt_run wpt;

/* Mismatches found by wpt_check. */
struct wpt_counts {
    unsigned unexpected_fail, unexpected_pass, stale, known;
};
extern struct wpt_counts wpt_counts;

/* wpt_run.c: helpers that exit(2) on out of memory; wpt_read_all returns the file NUL-terminated (NULL: errno). */
void wpt_sb_add(sbuf_t *b, const char *s, size_t n);
void wpt_sb_str(sbuf_t *b, const char *s);
char *wpt_strdup(const char *s);
void *wpt_calloc(size_t n, size_t size);
char *wpt_read_all(const char *path, size_t *len);
bool wpt_ends_with(const char *s, const char *suffix);
double wpt_now_ms(void);

/* wpt_files.c */
int wpt_exp_load(const char *path);
void wpt_exp_free(void);
void wpt_free_file(wpt_file_t *f);
void wpt_free_files(void);
void wpt_scan_file(const char *path, const char *group);
void wpt_scan_dir(const char *dir, const char *group);
void wpt_group_of(const char *path, char *out, size_t outlen);

/* wpt_exec.c */
int wpt_run_files(unsigned reactors);
bool wpt_timed_out(const wpt_file_t *f);
void wpt_reset_results(wpt_file_t *f);

/* wpt_check.c (wpt_check_free: what wpt_hash_build made) */
void wpt_hash_build(void);
void wpt_check_free(void);
bool wpt_mismatches(const wpt_file_t *f);
const char *wpt_status_name(int s);
void wpt_check(FILE *out, const char *exp_path, json_t *jlist);
int wpt_update(const char *exp_path);

#endif
