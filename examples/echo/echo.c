/*
 * echo: the smallest program on the isocore embedding API. A TCP echo
 * server with one reactor per CPU of the affinity mask; each reactor
 * accepts on its own SO_REUSEPORT socket and echoes on its own connections.
 *
 *   echo [PORT]     (default 7007; Ctrl-C stops it)
 */
#include <isocore.h>
#include <stdio.h>
#include <stdlib.h>

static ic_tcp_listener_t *listener;

/* Everything that arrives goes straight back; all of it is consumed. */
static size_t on_data(ic_tcp_conn_t *c, const char *data, size_t len)
{
    if (ic_tcp_write(c, data, len) < 0)
        ic_tcp_close(c);
    return len;
}

static void on_start(void *arg)
{
    int err = ic_tcp_listener_start(listener);
    if (err < 0) {
        ic_log(IC_LOG_ERROR, "listen: %s", ic_strerror(err));
        ic_reactor_stop();
    }
}

static void on_stop(void *arg)
{
    ic_tcp_listener_stop(listener);
}

int main(int argc, char **argv)
{
    char *end;
    unsigned long port = argc > 1 ? strtoul(argv[1], &end, 10) : 7007;
    if (argc > 2 || (argc > 1 && (*end || port > 65535))) {
        fprintf(stderr, "usage: echo [PORT]\n");
        return 2;
    }
    ic_reactor_config_t rc;
    ic_reactor_config_init(&rc);
    rc.handle_signals = true; /* SIGINT/SIGTERM stop the reactors */
    rc.on_start = on_start;
    rc.on_stop = on_stop;

    ic_tcp_listener_config_t lc;
    ic_tcp_listener_config_init(&lc);
    lc.port = (unsigned)port;
    lc.on.on_data = on_data;
    int err = ic_tcp_listener_new(&lc, ic_reactor_planned(&rc), &listener);
    if (err < 0) {
        fprintf(stderr, "echo: port %lu: %s\n", port, ic_strerror(err));
        return 1;
    }
    printf("echo: listening on 127.0.0.1:%u\n", ic_tcp_listener_port(listener));
    fflush(stdout);
    err = ic_reactor_run(&rc);
    ic_tcp_listener_free(listener);
    if (err < 0) {
        fprintf(stderr, "echo: %s\n", ic_strerror(err));
        return 1;
    }
    return 0;
}
