/*
 * test_bodies.c: bodies as streams through the `isocore` binary over real
 * sockets: a 100 MiB ReadableStream response with the server's memory
 * bounded, a client that goes away cancels the worker's stream, a response
 * rebuilt from another's body keeps it, uploads read chunk by chunk,
 * multipart both ways, a producer that fails cuts the body, and streamed
 * responses of a tenant owned by another core (config mode).
 */
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/wait.h>
#include <unistd.h>

#include "t_http.h"
#include "t_util.h"

struct srv {
    pid_t pid;
    int err_fd;
    unsigned port;
};

static const char *t_src(void)
{
    return getenv("ISOCORE_SRC") ? getenv("ISOCORE_SRC") : ".";
}

/* Starts `isocore serve` with args (NULL-terminated, after "serve") and waits for its "serving" line. */
static void t_start(struct srv *s, const char *const *args)
{
    const char *bin = getenv("ISOCORE_BIN");
    cr_assert_not_null(bin, "ISOCORE_BIN is not set (run through ctest)");
    static char port[16];
    s->port = t_free_port();
    snprintf(port, sizeof(port), "%u", s->port);
    const char *argv[16] = {bin, "serve"};
    int n = 2;
    for (; *args && n < 12; args++)
        argv[n++] = *args;
    argv[n++] = "--port";
    argv[n++] = port;
    argv[n] = NULL;
    /*
     * Under ASan, freed memory waits in a quarantine (256 MiB) before it is reused, which would show in the
     * peak RSS as if the body had been kept: the server runs without it (the leak checks stay on).
     */
    static char asan[512];
    const char *env = NULL;
    if (getenv("ISOCORE_SANITIZE") && strstr(getenv("ISOCORE_SANITIZE"), "address")) {
        snprintf(asan, sizeof(asan), "ASAN_OPTIONS=%s%squarantine_size_mb=0:thread_local_quarantine_size_kb=0",
                 getenv("ASAN_OPTIONS") ? getenv("ASAN_OPTIONS") : "", getenv("ASAN_OPTIONS") ? ":" : "");
        env = asan;
    }
    s->pid = t_spawn(argv, env, &s->err_fd);
    t_wait_serving(s->err_fd);
}

static void t_stop(struct srv *s)
{
    kill(s->pid, SIGTERM);
    int st = 0;
    waitpid(s->pid, &st, 0);
    close(s->err_fd);
    cr_assert(WIFEXITED(st) && WEXITSTATUS(st) == 0, "the server did not exit cleanly (status %d)", st);
}

/* One request on a new connection; the response in *r (keep: its body's bytes too). */
static void t_get(struct srv *s, const char *req, struct t_resp *r, bool keep)
{
    struct t_in in = {.fd = t_http_dial(s->port, 0)};
    cr_assert_geq(in.fd, 0);
    t_http_send(in.fd, req, strlen(req));
    cr_assert(t_http_read(&in, r, false, keep), "no response to %s", req);
    close(in.fd);
    free(in.buf);
}

/* The server's peak resident set (VmHWM), in KiB. */
static long t_peak_kib(pid_t pid)
{
    char path[64], line[256];
    snprintf(path, sizeof(path), "/proc/%d/status", (int)pid);
    FILE *f = fopen(path, "r");
    cr_assert_not_null(f);
    long kib = -1;
    while (fgets(line, sizeof(line), f))
        if (strncmp(line, "VmHWM:", 6) == 0)
            kib = atol(line + 6);
    fclose(f);
    return kib;
}

static void t_serve_worker(struct srv *s, const char *cores)
{
    static char path[1024];
    snprintf(path, sizeof(path), "%s/tests/e2e/workers/bodies.js", t_src());
    const char *args[] = {path, "--cores", cores, NULL};
    t_start(s, args);
}

Test(bodies, a_100_mib_stream_goes_out_with_bounded_memory, .timeout = 120)
{
    struct srv s;
    t_serve_worker(&s, "1");
    struct t_resp r;
    t_get(&s, "GET /big?mib=2 HTTP/1.1\r\nHost: b\r\n\r\n", &r, false); /* warm: the isolate, its JIT, the buffers */
    cr_assert(r.complete && r.body_len == 2u << 20);
    long before = t_peak_kib(s.pid);
    t_get(&s, "GET /big?mib=100 HTTP/1.1\r\nHost: b\r\n\r\n", &r, false);
    long after = t_peak_kib(s.pid);
    cr_assert_eq(r.status, 200);
    cr_assert(r.chunked, "a stream of unknown length is sent chunked");
    cr_assert(r.complete, "the terminal chunk came");
    cr_assert_eq(r.body_len, 100u << 20, "%zu bytes", r.body_len);
    cr_log_info("peak RSS before %ld KiB, after 100 MiB streamed %ld KiB (+%ld KiB)", before, after, after - before);
    /* Had the body been gathered anywhere, the peak would have grown by 100 MiB at least. */
    cr_assert_lt(after - before, 64 * 1024, "the peak grew by %ld KiB", after - before);
    t_stop(&s);
}

Test(bodies, a_client_that_goes_away_cancels_the_stream, .timeout = 60)
{
    struct srv s;
    t_serve_worker(&s, "1");
    struct t_in in = {.fd = t_http_dial(s.port, 0)};
    const char *req = "GET /forever HTTP/1.1\r\nHost: b\r\n\r\n";
    t_http_send(in.fd, req, strlen(req));
    cr_assert(t_need(&in, 200), "the stream did not start");
    close(in.fd); /* in the middle of the body */
    free(in.buf);
    struct t_resp r;
    t_get(&s, "GET /cancelled HTTP/1.1\r\nHost: b\r\n\r\n", &r, true); /* answers once the cancel ran */
    cr_assert_str_eq(r.body, "1", "the worker's cancel ran %s times", r.body);
    t_resp_free(&r);
    t_stop(&s);
}

Test(bodies, rebuilt_responses_uploads_multipart_and_failures, .timeout = 60)
{
    struct srv s;
    t_serve_worker(&s, "2");
    struct t_resp r;
    /* new Response(res.body, res): the body stays, with its length; status and headers come along. */
    t_get(&s, "GET /rewrap HTTP/1.1\r\nHost: b\r\n\r\n", &r, true);
    cr_assert_eq(r.status, 201);
    cr_assert_str_eq(r.body, "the inner body, kept");
    cr_assert(strstr(r.head, "Content-Length: 20\r\n"), "%s", r.head);
    cr_assert(strstr(r.head, "x-inner: yes\r\n"), "%s", r.head);
    t_resp_free(&r);

    /* An upload read with request.body.getReader(). */
    size_t n = 512 * 1024;
    char *up = malloc(n + 256);
    int h = snprintf(up, 256, "POST /upload HTTP/1.1\r\nHost: b\r\nContent-Length: %zu\r\n\r\n", n);
    memset(up + h, 7, n);
    struct t_in in = {.fd = t_http_dial(s.port, 0)};
    t_http_send(in.fd, up, (size_t)h + n);
    cr_assert(t_http_read(&in, &r, false, true));
    close(in.fd);
    free(in.buf);
    free(up);
    cr_assert_eq(r.status, 200, "%s", r.body);
    cr_assert(strstr(r.body, "\"total\":524288"), "%s", r.body);
    cr_assert(strstr(r.body, "\"used\":true"), "%s", r.body);
    t_resp_free(&r);

    /* multipart/form-data from the client, with a file. */
    const char *form =
        "--XyZ\r\nContent-Disposition: form-data; name=\"title\"\r\n\r\nhello world\r\n"
        "--XyZ\r\nContent-Disposition: form-data; name=\"doc\"; filename=\"n.txt\"\r\nContent-Type: text/plain\r\n\r\n"
        "line one\r\nline two\r\n--XyZ--\r\n";
    char req[1024];
    snprintf(req, sizeof(req),
             "POST /form HTTP/1.1\r\nHost: b\r\nContent-Type: multipart/form-data; boundary=XyZ\r\nContent-Length: %zu\r\n\r\n%s",
             strlen(form), form);
    t_get(&s, req, &r, true);
    cr_assert_eq(r.status, 200, "%s", r.body);
    cr_assert_str_eq(r.body, "[[\"title\",\"hello world\"],[\"doc\",\"n.txt\",18,\"text/plain\",\"line one\\r\\nline two\"]]");
    t_resp_free(&r);
    /* A malformed multipart body: formData() rejects with a TypeError, the handler's promise with it: 500. */
    snprintf(
        req, sizeof(req),
        "POST /form HTTP/1.1\r\nHost: b\r\nContent-Type: multipart/form-data; boundary=XyZ\r\nContent-Length: 9\r\n\r\n--nothing");
    t_get(&s, req, &r, true);
    cr_assert_eq(r.status, 500);
    t_resp_free(&r);
    /* A FormData response: multipart with a generated boundary. */
    t_get(&s, "GET /form-out HTTP/1.1\r\nHost: b\r\n\r\n", &r, true);
    cr_assert_eq(r.status, 200, "%s", r.body);
    const char *ct = strstr(r.head, "content-type: multipart/form-data; boundary=");
    cr_assert(ct, "%s", r.head);
    cr_assert(strstr(r.body, "name=\"file\"; filename=\"a.txt\"") && strstr(r.body, "file contents"), "%s", r.body);
    t_resp_free(&r);

    /* A producer that errors mid-way: what it gave arrives, then the connection closes without the terminal chunk. */
    t_get(&s, "GET /broken HTTP/1.1\r\nHost: b\r\n\r\n", &r, false);
    cr_assert(r.chunked);
    cr_assert_not(r.complete, "a cut body must not end well");
    cr_assert_eq(r.body_len, 4000u);
    /* Piped through TextDecoderStream and TextEncoderStream. */
    t_get(&s, "GET /piped HTTP/1.1\r\nHost: b\r\n\r\n", &r, true);
    cr_assert(r.complete && r.body_len == 11000, "%zu", r.body_len);
    cr_assert_eq(strncmp(r.body, "compressed compressed ", 22), 0);
    t_resp_free(&r);
    t_stop(&s);
}

/* POSTs n bytes (chunked when asked) of a pattern to /upload; returns the worker's JSON in *r. */
static void t_upload(struct srv *s, size_t n, bool chunked, struct t_resp *r)
{
    struct t_in in = {.fd = t_http_dial(s->port, 0)};
    cr_assert_geq(in.fd, 0);
    char head[256];
    int h = chunked ? snprintf(head, sizeof(head), "POST /upload HTTP/1.1\r\nHost: b\r\nTransfer-Encoding: chunked\r\n\r\n")
                    : snprintf(head, sizeof(head), "POST /upload HTTP/1.1\r\nHost: b\r\nContent-Length: %zu\r\n\r\n", n);
    t_http_send(in.fd, head, (size_t)h);
    static char piece[65536];
    memset(piece, 7, sizeof(piece));
    for (size_t at = 0; at < n; at += sizeof(piece)) {
        size_t k = n - at < sizeof(piece) ? n - at : sizeof(piece);
        if (chunked) {
            h = snprintf(head, sizeof(head), "%zx\r\n", k);
            t_http_send(in.fd, head, (size_t)h);
        }
        t_http_send(in.fd, piece, k);
        if (chunked)
            t_http_send(in.fd, "\r\n", 2);
    }
    if (chunked)
        t_http_send(in.fd, "0\r\n\r\n", 5);
    cr_assert(t_http_read(&in, r, false, true), "no answer to the upload");
    close(in.fd);
    free(in.buf);
}

Test(bodies, uploads_stream_into_the_worker_as_they_arrive, .timeout = 120)
{
    struct srv s;
    t_serve_worker(&s, "1");
    struct t_resp r;
    t_upload(&s, 1u << 20, false, &r); /* warm */
    t_resp_free(&r);
    long before = t_peak_kib(s.pid);
    /* 256 MiB: far past max_body (1 MiB), which a buffered body could not pass. */
    t_upload(&s, 256u << 20, false, &r);
    long after = t_peak_kib(s.pid);
    cr_assert_eq(r.status, 200, "%s", r.body);
    cr_assert(strstr(r.body, "\"total\":268435456"), "%s", r.body);
    cr_log_info("256 MiB upload: %s; peak RSS +%ld KiB", r.body, after - before);
    cr_assert_lt(after - before, 64 * 1024, "the peak grew by %ld KiB", after - before);
    t_resp_free(&r);
    t_upload(&s, 32u << 20, true, &r);
    cr_assert_eq(r.status, 200, "%s", r.body);
    cr_assert(strstr(r.body, "\"total\":33554432"), "chunked: %s", r.body);
    t_resp_free(&r);
    /* A broken chunked upload: request.body errors (a TypeError the handler does not catch: 500), the server goes on. */
    struct t_in in = {.fd = t_http_dial(s.port, 0)};
    static char big[200000];
    memset(big, 1, sizeof(big));
    const char *h = "POST /upload HTTP/1.1\r\nHost: b\r\nTransfer-Encoding: chunked\r\n\r\n30d40\r\n";
    t_http_send(in.fd, h, strlen(h));
    t_http_send(in.fd, big, sizeof(big));
    t_http_send(in.fd, "\r\nnot-hex\r\n", 11);
    cr_assert(t_http_read(&in, &r, false, true));
    cr_assert_eq(r.status, 500, "a broken upload: %d %s", r.status, r.body);
    t_resp_free(&r);
    close(in.fd);
    free(in.buf);
    t_get(&s, "GET / HTTP/1.1\r\nHost: b\r\n\r\n", &r, true);
    cr_assert_str_eq(r.body, "ok");
    t_resp_free(&r);
    t_stop(&s);
}

Test(bodies, bad_chunks_and_stalled_streams_are_cut, .timeout = 60)
{
    struct srv s;
    static char path[1024];
    snprintf(path, sizeof(path), "%s/tests/e2e/workers/bodies.js", t_src());
    const char *args[] = {path, "--cores", "1", "--wall-ms", "300", NULL};
    t_start(&s, args);
    struct t_resp r;
    t_get(&s, "GET /bad-chunk HTTP/1.1\r\nHost: b\r\n\r\n", &r, false);
    cr_assert(r.chunked && !r.complete, "a string chunk cuts the body");
    cr_assert_eq(r.body_len, 100u);
    uint64_t t0 = ic_clock_ns();
    t_get(&s, "GET /stall HTTP/1.1\r\nHost: b\r\n\r\n", &r, false);
    double waited = (double)(ic_clock_ns() - t0) / 1e6;
    cr_assert(r.chunked && !r.complete, "a stream that stalls past the wall-clock limit is cut");
    cr_assert_eq(r.body_len, 20u);
    cr_log_info("a stalled stream was cut after %.0f ms (limit 300 ms)", waited);
    cr_assert_geq(waited, 290, "cut before its limit (%.0f ms)", waited);
    /* The worker goes on serving. */
    t_get(&s, "GET / HTTP/1.1\r\nHost: b\r\n\r\n", &r, true);
    cr_assert_str_eq(r.body, "ok");
    t_resp_free(&r);
    t_stop(&s);
}

/*
 * A parked request answered from inside a JS entry, with a pipelined request behind it: the next request must not
 * run nested inside that entry, or the watchdog (one entry per thread) stops guarding the rest of it, and a loop the
 * tenant queued after its answer hangs the core for ever. It is cut by the CPU limit instead, and both are answered.
 */
Test(bodies, a_pipelined_request_does_not_run_inside_another_entry, .timeout = 60)
{
    struct srv s;
    t_serve_worker(&s, "1");
    struct t_in in = {.fd = t_http_dial(s.port, 0)};
    const char *two = "GET /park-then-spin HTTP/1.1\r\nHost: b\r\n\r\nGET / HTTP/1.1\r\nHost: b\r\n\r\n";
    t_http_send(in.fd, two, strlen(two));
    struct t_resp r;
    cr_assert(t_http_read(&in, &r, false, true));
    cr_assert_str_eq(r.body, "parked");
    t_resp_free(&r);
    cr_assert(t_http_read(&in, &r, false, true), "the pipelined request got no answer");
    cr_assert_str_eq(r.body, "ok");
    t_resp_free(&r);
    close(in.fd);
    free(in.buf);
    t_get(&s, "GET / HTTP/1.1\r\nHost: b\r\n\r\n", &r, true);
    cr_assert_str_eq(r.body, "ok", "the worker serves on after its loop was cut");
    t_resp_free(&r);
    t_stop(&s);
}

Test(bodies, streamed_responses_of_a_tenant_on_another_core, .timeout = 60)
{
    /* One sticky tenant on two cores: connections land on both, half of them are forwarded to the owner. */
    char dir[] = "/tmp/isocore-bodies-XXXXXX", cfg[1200], worker[1024];
    cr_assert_not_null(mkdtemp(dir));
    snprintf(worker, sizeof(worker), "%s/tests/e2e/workers/bodies.js", t_src());
    snprintf(cfg, sizeof(cfg), "%s/isocore.json", dir);
    FILE *f = fopen(cfg, "w");
    fprintf(f, "{\"core_header\": true, \"default\": \"b\", \"workers\": [{\"name\": \"b\", \"module\": \"%s\"}]}\n", worker);
    fclose(f);
    struct srv s;
    const char *args[] = {"--config", cfg, "--cores", "2", NULL};
    t_start(&s, args);
    int cores_seen[2] = {0, 0};
    for (int i = 0; i < 16; i++) {
        struct t_resp r;
        t_get(&s, "GET /big?mib=1 HTTP/1.1\r\nHost: b\r\n\r\n", &r, true);
        cr_assert_eq(r.status, 200);
        cr_assert(r.complete && r.body_len == 1u << 20, "request %d: %zu bytes, complete %d", i, r.body_len, r.complete);
        /* In order: chunk k (64 KiB) is filled with 'a' + (15 - k) % 26. */
        for (size_t k = 0; k < 16; k++)
            cr_assert_eq(r.body[k * 65536], (char)(97 + (15 - k) % 26), "chunk %zu out of place", k);
        const char *core = strstr(r.head, "x-isocore-core: ");
        cr_assert(core);
        cores_seen[atoi(core + 16) & 1]++;
        t_resp_free(&r);
    }
    cr_assert(cores_seen[0] == 16 || cores_seen[1] == 16, "a sticky tenant runs on its owner only");
    /* Clients that go away in the middle of endless bodies, on both cores: every stream is cancelled on the owner. */
    for (int i = 0; i < 6; i++) {
        struct t_in in = {.fd = t_http_dial(s.port, 0)};
        const char *req = "GET /forever HTTP/1.1\r\nHost: b\r\n\r\n";
        t_http_send(in.fd, req, strlen(req));
        cr_assert(t_need(&in, 200), "stream %d did not start", i);
        close(in.fd);
        free(in.buf);
    }
    struct t_resp r;
    /* Uploads on both cores: streamed into the worker where it runs, gathered first where it does not. */
    for (int i = 0; i < 8; i++) {
        t_upload(&s, 3u << 20, i & 1, &r);
        cr_assert_eq(r.status, 200, "upload %d: %s", i, r.body);
        cr_assert(strstr(r.body, "\"total\":3145728"), "upload %d: %s", i, r.body);
        t_resp_free(&r);
    }
    t_get(&s, "GET /cancelled?n=6 HTTP/1.1\r\nHost: b\r\n\r\n", &r, true);
    cr_assert_str_eq(r.body, "6", "cancelled: %s of 6", r.body);
    t_resp_free(&r);
    t_stop(&s);
    unlink(cfg);
    rmdir(dir);
}
