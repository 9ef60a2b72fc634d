/*
 * t_util.h: helpers shared by the Criterion tests.
 */
#ifndef ISOCORE_T_UTIL_H
#define ISOCORE_T_UTIL_H

#include <arpa/inet.h>
#include <criterion/criterion.h>
#include <netinet/in.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <signal.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <unistd.h>

#include "isocore.h"

/* A reactor config for tests: quiet, `cores` reactors, pinned when they fit. */
static inline ic_reactor_config_t t_config(unsigned cores, void (*on_start)(void *), void *arg)
{
    ic_reactor_config_t cfg;
    ic_reactor_config_init(&cfg);
    cfg.cores = cores;
    cfg.quiet = true;
    cfg.handle_signals = false;
    cfg.on_start = on_start;
    cfg.arg = arg;
    return cfg;
}

/* Runs the reactors to completion and asserts that start and wait succeeded. */
static inline void t_run(const ic_reactor_config_t *cfg)
{
    int ret = ic_reactor_run(cfg);
    cr_assert_eq(ret, 0, "ic_reactor_run: %s", ic_strerror(ret));
}

/* A loopback port that was free a moment ago (a server binds it next). */
static inline unsigned t_free_port(void)
{
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    struct sockaddr_in sa = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(0x7f000001)};
    socklen_t len = sizeof(sa);
    cr_assert_eq(bind(fd, (struct sockaddr *)&sa, sizeof(sa)), 0);
    cr_assert_eq(getsockname(fd, (struct sockaddr *)&sa, &len), 0);
    close(fd);
    return ntohs(sa.sin_port);
}

/*
 * Starts argv[0] (a path) with argv, its stderr on a pipe whose read end
 * goes to *err_fd, and `env` ("NAME=value", or NULL) added to its
 * environment. The child is killed if the test process dies (a failed
 * assertion), so no server outlives its test.
 */
static inline pid_t t_spawn(const char *const argv[], const char *env, int *err_fd)
{
    int p[2];
    cr_assert_eq(pipe(p), 0);
    pid_t pid = fork();
    cr_assert_geq(pid, 0);
    if (pid == 0) {
        prctl(PR_SET_PDEATHSIG, SIGKILL);
        dup2(p[1], 2);
        close(p[0]);
        close(p[1]);
        if (env)
            putenv((char *)env);
        execv(argv[0], (char *const *)argv);
        _exit(127);
    }
    close(p[1]);
    *err_fd = p[0];
    return pid;
}

/* Reads a spawned server's stderr until its "serving" line; fails the test with what it said otherwise. */
static inline void t_wait_serving(int err_fd)
{
    char log[8192];
    size_t got = 0;
    while (got < sizeof(log) - 1) {
        ssize_t r = read(err_fd, log + got, sizeof(log) - 1 - got);
        if (r <= 0)
            break;
        got += (size_t)r;
        log[got] = '\0';
        if (strstr(log, "serving "))
            return;
    }
    log[got] = '\0';
    cr_assert_fail("the server did not start: %s", log);
}

/* The number after "key": in icload's --json output (asserts that it is there). */
static inline double t_json_num(const char *json, const char *key)
{
    char k[64];
    snprintf(k, sizeof(k), "\"%s\":", key);
    const char *p = strstr(json, k);
    cr_assert(p, "no %s in %s", key, json);
    return strtod(p + strlen(k), NULL);
}

#endif
