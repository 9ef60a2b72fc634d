/*
 * test_install.c: the embedding API as an outside program gets it.
 * `cmake --install` into a fresh prefix, then examples/echo/echo.c is built
 * from that prefix alone with `pkg-config --cflags --libs isocore` (shared
 * library) and with `--static`, and each binary echoes over a real socket
 * and exits cleanly on SIGTERM.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <stdarg.h>
#include <netinet/in.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include "t_util.h"

static char t_prefix[] = "/tmp/isocore-installXXXXXX";

static int t_sh(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
static int t_sh(const char *fmt, ...)
{
    char cmd[4096];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(cmd, sizeof(cmd), fmt, ap);
    va_end(ap);
    int st = system(cmd);
    return WIFEXITED(st) ? WEXITSTATUS(st) : -1;
}

/* Runs the built echo binary, talks to it, stops it; returns its exit status. */
static void t_run_echo(const char *bin)
{
    int out[2];
    cr_assert_eq(pipe(out), 0);
    pid_t pid = fork();
    if (pid == 0) {
        dup2(out[1], 1);
        close(out[0]);
        close(out[1]);
        execl(bin, bin, "0", (char *)NULL);
        _exit(127);
    }
    close(out[1]);
    char line[128];
    size_t n = 0;
    while (n < sizeof(line) - 1 && read(out[0], line + n, 1) == 1 && line[n] != '\n')
        n++;
    line[n] = 0;
    close(out[0]);
    const char *p = strstr(line, "127.0.0.1:");
    if (!p) {
        kill(pid, SIGKILL);
        waitpid(pid, NULL, 0);
        cr_assert_fail("%s did not start: '%s'", bin, line);
    }
    struct sockaddr_in sa = {
        .sin_family = AF_INET, .sin_port = htons((uint16_t)atoi(p + 10)), .sin_addr.s_addr = htonl(0x7f000001)};
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    struct timeval tv = {.tv_sec = 10};
    setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
    int ok = connect(fd, (struct sockaddr *)&sa, sizeof(sa)) == 0 && send(fd, "outside", 7, 0) == 7;
    char buf[8] = {0};
    size_t got = 0;
    while (ok && got < 7) {
        ssize_t r = recv(fd, buf + got, 7 - got, 0);
        if (r <= 0)
            break;
        got += (size_t)r;
    }
    close(fd);
    int st;
    kill(pid, SIGTERM);
    waitpid(pid, &st, 0);
    cr_assert(ok && got == 7 && memcmp(buf, "outside", 7) == 0, "%s did not echo ('%s')", bin, buf);
    cr_assert(WIFEXITED(st) && WEXITSTATUS(st) == 0, "%s exit status %d", bin, st);
}

Test(install, pkg_config_builds_an_outside_program, .timeout = 300)
{
    const char *build = getenv("ISOCORE_BUILD_DIR"), *src = getenv("ISOCORE_SRC"), *san = getenv("ISOCORE_SANITIZE");
    cr_assert(build && src, "run through ctest (ISOCORE_BUILD_DIR, ISOCORE_SRC)");
    cr_assert(mkdtemp(t_prefix));
    cr_assert_eq(t_sh("cmake --install '%s' --prefix '%s' >/dev/null", build, t_prefix), 0, "cmake --install");
    /* A sanitizer build's library needs the same flags in the program that links it. */
    char flags[128] = "";
    if (san && *san)
        snprintf(flags, sizeof(flags), "-fsanitize=%s", san);
    const char *pc = "PKG_CONFIG_PATH=\"$(dirname $(find %s -name isocore.pc))\"";
    char pcenv[512];
    snprintf(pcenv, sizeof(pcenv), pc, t_prefix);
    cr_assert_eq(t_sh("%s pkg-config --exists isocore", pcenv), 0, "isocore.pc installed and valid");
    /* Only the installed prefix: the source tree's include/ is not on the path. */
    cr_assert_eq(t_sh("cd /tmp && %s cc %s -o %s/echo_shared '%s/examples/echo/echo.c' $(%s pkg-config --cflags --libs isocore)",
                      pcenv, flags, t_prefix, src, pcenv),
                 0, "shared build");
    cr_assert_eq(
        t_sh("cd /tmp && cc %s -o %s/echo_static '%s/examples/echo/echo.c' $(%s pkg-config --static --cflags --libs isocore) "
             "-lstdc++",
             flags, t_prefix, src, pcenv),
        0, "static build");
    cr_assert_eq(t_sh("ldd %s/echo_shared | grep -q '%s/.*libisocore.so'", t_prefix, t_prefix), 0,
                 "the shared build uses the installed library");
    char bin[256];
    snprintf(bin, sizeof(bin), "%s/echo_shared", t_prefix);
    t_run_echo(bin);
    snprintf(bin, sizeof(bin), "%s/echo_static", t_prefix);
    t_run_echo(bin);
    cr_assert_eq(t_sh("rm -rf '%s'", t_prefix), 0);
}
