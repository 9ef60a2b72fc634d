/*
 * bundle.c: a worker's TypeScript and npm imports, bundled on load by the
 * esbuild binary (a child process: posix_spawn with an argv, stdout and
 * stderr captured, a time limit), cached by content hash.
 *
 * Whether a worker needs bundling is decided before anything is loaded, by
 * scanning the import specifiers of its module graph (scan_file): the
 * loader runs in every isolate on the reactors, where a child process must
 * never be waited for, so catching its "bare specifier" error there would
 * come too late. The scan is a small tokenizer (comments and strings
 * skipped), so `from "x"` in a comment does not count.
 *
 * The cache (ic__bundle_cache_dir()/bundles) holds, per entry file and
 * esbuild binary, a manifest: the files the last build read (esbuild's
 * --metafile) and the SHA-256 of their contents, the esbuild binary and
 * the flags. A load that finds the same hash reuses HASH.js and HASH.js.map
 * without running esbuild. Files that were not read (a package.json that
 * changes resolution) are not in the hash: see docs/bundling.md.
 */
#include <errno.h>
#include <fcntl.h>
#include <jansson.h>
#include <limits.h>
#include <openssl/evp.h>
#include <poll.h>
#include <signal.h>
#include <spawn.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "isocore.h"
#include "router/internal.h"

extern char **environ;

#define BUILD_TIMEOUT_MS 60000
#define MAX_GRAPH 2000

/* The flags of every build: part of the cache key. */
static const char *const flags[] = {"--bundle",
                                    "--format=esm",
                                    "--platform=neutral",
                                    "--target=es2022",
                                    "--main-fields=browser,module,main",
                                    "--conditions=workerd,worker,browser",
                                    "--sourcemap=external",
                                    "--log-level=warning",
                                    "--color=false",
                                    NULL};

static _Atomic unsigned long runs;

unsigned long ic__bundle_runs(void)
{
    return atomic_load(&runs);
}

/* ---- paths and files ----------------------------------------------------------------- */

/* Normalises an absolute path ("." and ".." resolved lexically) in place. */
static void normalise(char *p)
{
    char *out = p, *in = p;
    while (*in) {
        while (*in == '/')
            in++;
        char *seg = in;
        while (*in && *in != '/')
            in++;
        size_t n = (size_t)(in - seg);
        if (n == 0 || (n == 1 && seg[0] == '.'))
            continue;
        if (n == 2 && seg[0] == '.' && seg[1] == '.') {
            while (out > p && *--out != '/')
                ;
            continue;
        }
        *out++ = '/';
        memmove(out, seg, n);
        out += n;
    }
    if (out == p)
        *out++ = '/';
    *out = '\0';
}

/* rel made absolute against dir (or the working directory when dir is NULL); NULL on no memory. */
static char *absolute(const char *dir, const char *rel)
{
    char cwd[PATH_MAX];
    if (!dir)
        dir = getcwd(cwd, sizeof(cwd)) ? cwd : "/";
    size_t n = strlen(dir) + strlen(rel) + 2;
    char *p = malloc(n);
    if (!p)
        return NULL;
    if (rel[0] == '/')
        snprintf(p, n, "%s", rel);
    else
        snprintf(p, n, "%s/%s", dir, rel);
    normalise(p);
    return p;
}

static void dir_of(const char *path, char *out, size_t cap)
{
    snprintf(out, cap, "%s", path);
    char *slash = strrchr(out, '/');
    if (slash && slash != out)
        *slash = '\0';
    else if (slash)
        slash[1] = '\0';
    else
        snprintf(out, cap, ".");
}

/* The whole file, NUL-terminated, or NULL (errno set). */
static char *slurp(const char *path, size_t *len)
{
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0)
        return NULL;
    size_t cap = 1 << 14, n = 0;
    char *buf = malloc(cap);
    while (buf) {
        if (n + 1 >= cap) {
            char *more = realloc(buf, cap * 2);
            if (!more) {
                free(buf);
                buf = NULL;
                errno = ENOMEM;
                break;
            }
            buf = more;
            cap *= 2;
        }
        ssize_t r = read(fd, buf + n, cap - n - 1);
        if (r < 0 && errno == EINTR)
            continue;
        if (r < 0) {
            int e = errno;
            free(buf);
            buf = NULL;
            errno = e;
            break;
        }
        if (r == 0)
            break;
        n += (size_t)r;
    }
    close(fd);
    if (buf) {
        buf[n] = '\0';
        if (len)
            *len = n;
    }
    return buf;
}

/* Writes a file whole through a temporary name and a rename, so a reader never sees half of it. */
static int write_file(const char *path, const char *data, size_t len)
{
    char tmp[PATH_MAX + 16];
    snprintf(tmp, sizeof(tmp), "%s.%d.tmp", path, (int)getpid());
    int fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
    if (fd < 0)
        return -errno;
    size_t off = 0;
    while (off < len) {
        ssize_t w = write(fd, data + off, len - off);
        if (w < 0 && errno == EINTR)
            continue;
        if (w < 0) {
            int e = -errno;
            close(fd);
            unlink(tmp);
            return e;
        }
        off += (size_t)w;
    }
    close(fd);
    if (rename(tmp, path) < 0) {
        int e = -errno;
        unlink(tmp);
        return e;
    }
    return 0;
}

static int mkdirs(const char *path)
{
    char p[PATH_MAX];
    snprintf(p, sizeof(p), "%s", path);
    for (char *s = p + 1; *s; s++) {
        if (*s != '/')
            continue;
        *s = '\0';
        if (mkdir(p, 0755) < 0 && errno != EEXIST)
            return -errno;
        *s = '/';
    }
    if (mkdir(p, 0755) < 0 && errno != EEXIST)
        return -errno;
    return 0;
}

static bool ends_with(const char *s, const char *suffix)
{
    size_t n = strlen(s), m = strlen(suffix);
    return n >= m && strcmp(s + n - m, suffix) == 0;
}

static bool is_typescript_or_jsx(const char *path)
{
    return ends_with(path, ".ts") || ends_with(path, ".tsx") || ends_with(path, ".jsx") || ends_with(path, ".mts") ||
           ends_with(path, ".cts");
}

/* ---- the scan of a module graph ------------------------------------------------------------- */

struct graph {
    char **files;
    unsigned n;
    bool needs;        /* bundling is needed */
    char bare[256];    /* the first package imported */
    char reason[1024]; /* why, for a message */
};

static bool graph_has(struct graph *g, const char *path)
{
    for (unsigned i = 0; i < g->n; i++)
        if (strcmp(g->files[i], path) == 0)
            return true;
    return false;
}

static void scan_file(struct graph *g, const char *path);

/* One specifier found in `from`: a package or TypeScript file means bundling; a relative .js is scanned in turn. */
static void on_specifier(struct graph *g, const char *from, const char *spec, size_t len)
{
    char s[1024];
    if (len == 0 || len >= sizeof(s))
        return;
    memcpy(s, spec, len);
    s[len] = '\0';
    bool relative = s[0] == '/' || strncmp(s, "./", 2) == 0 || strncmp(s, "../", 3) == 0;
    if (!relative) {
        if (!g->needs) {
            snprintf(g->bare, sizeof(g->bare), "%.255s", s);
            snprintf(g->reason, sizeof(g->reason), "%.700s imports '%.255s' (a package from node_modules)", from, s);
        }
        g->needs = true;
        return;
    }
    if (is_typescript_or_jsx(s)) {
        if (!g->needs)
            snprintf(g->reason, sizeof(g->reason), "%.700s imports '%.255s' (TypeScript or JSX)", from, s);
        g->needs = true;
        return;
    }
    if (!ends_with(s, ".js") && !ends_with(s, ".mjs"))
        return; /* .wasm, .json…: the loader's business */
    char dir[PATH_MAX];
    dir_of(from, dir, sizeof(dir));
    char *abs = absolute(dir, s);
    if (abs) {
        scan_file(g, abs);
        free(abs);
    }
}

static bool ident_char(char c)
{
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '_' || c == '$';
}

/*
 * Finds the specifiers of `import … from "x"`, `export … from "x"`,
 * `import "x"` and `import("x")` in src. Comments and strings are skipped;
 * a template literal is skipped to its closing backtick (a `${`…`}` holding
 * another backtick is rare enough not to matter: at worst a bundle too many).
 */
static void scan_text(struct graph *g, const char *from, const char *src)
{
    enum { NONE, FROM, IMPORT, IMPORT_PAREN } st = NONE;
    const char *p = src;
    while (*p && g->n < MAX_GRAPH) {
        char c = *p;
        if (c == ' ' || c == '\t' || c == '\r' || c == '\n') {
            p++;
        } else if (c == '/' && p[1] == '/') {
            while (*p && *p != '\n')
                p++;
        } else if (c == '/' && p[1] == '*') {
            const char *e = strstr(p + 2, "*/");
            p = e ? e + 2 : p + strlen(p);
        } else if (c == '"' || c == '\'' || c == '`') {
            const char *start = ++p;
            while (*p && *p != c) {
                if (*p == '\\' && p[1])
                    p++;
                if (*p == '\n' && c != '`')
                    break;
                p++;
            }
            if (st != NONE && c != '`')
                on_specifier(g, from, start, (size_t)(p - start));
            if (*p)
                p++;
            st = NONE;
        } else if (ident_char(c)) {
            const char *start = p;
            while (ident_char(*p))
                p++;
            size_t n = (size_t)(p - start);
            bool member = start > src && start[-1] == '.';
            if (!member && n == 4 && memcmp(start, "from", 4) == 0)
                st = FROM;
            else if (!member && n == 6 && memcmp(start, "import", 6) == 0)
                st = IMPORT;
            else
                st = NONE;
        } else if (c == '(' && st == IMPORT) {
            st = IMPORT_PAREN;
            p++;
        } else {
            st = NONE;
            p++;
        }
    }
}

static void scan_file(struct graph *g, const char *path)
{
    if (graph_has(g, path) || g->n >= MAX_GRAPH)
        return;
    char **more = realloc(g->files, (g->n + 1) * sizeof(*more));
    if (!more)
        return;
    g->files = more;
    if (!(g->files[g->n] = strdup(path)))
        return;
    g->n++;
    if (is_typescript_or_jsx(path)) {
        if (!g->needs)
            snprintf(g->reason, sizeof(g->reason), "%.900s is TypeScript or JSX", path);
        g->needs = true;
        return;
    }
    char *src = slurp(path, NULL);
    if (!src)
        return; /* the loader says what is wrong with it */
    scan_text(g, path, src);
    free(src);
}

static void graph_free(struct graph *g)
{
    for (unsigned i = 0; i < g->n; i++)
        free(g->files[i]);
    free(g->files);
}

bool ic__bundle_needed(const char *main, char *first_bare, size_t cap)
{
    struct graph g = {0};
    char *abs = absolute(NULL, main);
    if (!abs)
        return false;
    scan_file(&g, abs);
    free(abs);
    if (first_bare && cap)
        snprintf(first_bare, cap, "%s", g.bare);
    bool needs = g.needs;
    graph_free(&g);
    return needs;
}

/* ---- esbuild, the child process ----------------------------------------------------------------- */

/* The esbuild binary: $ISOCORE_ESBUILD, else `esbuild` on PATH. False when there is none. */
static bool find_esbuild(char *out, size_t cap)
{
    const char *env = getenv("ISOCORE_ESBUILD");
    if (env && *env) {
        snprintf(out, cap, "%s", env);
        return access(out, X_OK) == 0;
    }
    const char *path = getenv("PATH");
    if (!path || !*path)
        path = "/usr/local/bin:/usr/bin:/bin";
    while (*path) {
        const char *colon = strchr(path, ':');
        size_t n = colon ? (size_t)(colon - path) : strlen(path);
        if (n)
            snprintf(out, cap, "%.*s/esbuild", (int)n, path);
        if (n && access(out, X_OK) == 0)
            return true;
        path += n + (colon ? 1 : 0);
    }
    return false;
}

/*
 * Runs argv in directory cwd with stdin on /dev/null, and gathers what it
 * writes on stdout and stderr (each NUL-terminated, at most 1 MiB) until it
 * exits or timeout_ms pass (then it is killed). Returns its exit status
 * (0-255), -ETIMEDOUT, or -errno when it could not be started.
 */
static int run_child(char *const argv[], const char *cwd, int timeout_ms, char **out, char **errout)
{
    int po[2] = {-1, -1}, pe[2] = {-1, -1};
    *out = *errout = NULL;
    if (pipe2(po, O_CLOEXEC) < 0 || pipe2(pe, O_CLOEXEC) < 0) {
        int e = -errno;
        if (po[0] >= 0) {
            close(po[0]);
            close(po[1]);
        }
        return e;
    }
    posix_spawn_file_actions_t fa;
    posix_spawn_file_actions_init(&fa);
    posix_spawn_file_actions_addopen(&fa, 0, "/dev/null", O_RDONLY, 0);
    posix_spawn_file_actions_adddup2(&fa, po[1], 1);
    posix_spawn_file_actions_adddup2(&fa, pe[1], 2);
    if (cwd)
        posix_spawn_file_actions_addchdir_np(&fa, cwd);
    /* isocore serve blocks SIGINT/SIGTERM/SIGHUP from main on (tools/isocore.c): the child starts with none blocked. */
    posix_spawnattr_t at;
    posix_spawnattr_init(&at);
    sigset_t none, dfl;
    sigemptyset(&none);
    sigemptyset(&dfl);
    sigaddset(&dfl, SIGINT);
    sigaddset(&dfl, SIGTERM);
    sigaddset(&dfl, SIGHUP);
    posix_spawnattr_setsigmask(&at, &none);
    posix_spawnattr_setsigdefault(&at, &dfl);
    posix_spawnattr_setflags(&at, POSIX_SPAWN_SETSIGMASK | POSIX_SPAWN_SETSIGDEF);
    pid_t pid;
    int rc = posix_spawn(&pid, argv[0], &fa, &at, argv, environ);
    posix_spawnattr_destroy(&at);
    posix_spawn_file_actions_destroy(&fa);
    close(po[1]);
    close(pe[1]);
    if (rc != 0) {
        close(po[0]);
        close(pe[0]);
        return -rc;
    }
    struct sink {
        int fd;
        char *buf;
        size_t n, cap;
    } s[2] = {{po[0], NULL, 0, 0}, {pe[0], NULL, 0, 0}};
    struct timespec t0, t1;
    clock_gettime(CLOCK_MONOTONIC, &t0);
    bool timed_out = false;
    while (s[0].fd >= 0 || s[1].fd >= 0) {
        clock_gettime(CLOCK_MONOTONIC, &t1);
        long left = timeout_ms - ((t1.tv_sec - t0.tv_sec) * 1000 + (t1.tv_nsec - t0.tv_nsec) / 1000000);
        if (left <= 0) {
            timed_out = true;
            break;
        }
        struct pollfd pf[2] = {{s[0].fd, POLLIN, 0}, {s[1].fd, POLLIN, 0}};
        int r = poll(pf, 2, (int)left);
        if (r < 0 && errno == EINTR)
            continue;
        if (r < 0)
            break;
        for (int i = 0; i < 2; i++) {
            if (s[i].fd < 0 || !(pf[i].revents & (POLLIN | POLLHUP | POLLERR)))
                continue;
            if (s[i].n + 4096 + 1 > s[i].cap && s[i].cap < (1u << 20)) {
                size_t cap = s[i].cap ? s[i].cap * 2 : 8192;
                char *more = realloc(s[i].buf, cap);
                if (more) {
                    s[i].buf = more;
                    s[i].cap = cap;
                }
            }
            char drop[4096];
            bool room = s[i].buf && s[i].n + 1 < s[i].cap;
            size_t want = room ? s[i].cap - s[i].n - 1 : sizeof(drop);
            ssize_t got = read(s[i].fd, room ? s[i].buf + s[i].n : drop, want);
            if (got < 0 && errno == EINTR)
                continue;
            if (got <= 0) {
                close(s[i].fd);
                s[i].fd = -1;
            } else if (room) {
                s[i].n += (size_t)got;
            }
        }
    }
    for (int i = 0; i < 2; i++) {
        if (s[i].fd >= 0)
            close(s[i].fd);
        if (!s[i].buf)
            s[i].buf = malloc(1);
        if (s[i].buf)
            s[i].buf[s[i].n] = '\0';
    }
    *out = s[0].buf;
    *errout = s[1].buf;
    if (timed_out)
        kill(pid, SIGKILL);
    int status;
    while (waitpid(pid, &status, 0) < 0 && errno == EINTR)
        ;
    if (timed_out)
        return -ETIMEDOUT;
    return WIFEXITED(status) ? WEXITSTATUS(status) : 128 + (WIFSIGNALED(status) ? WTERMSIG(status) : 0);
}

/* ---- hashing ---------------------------------------------------------------------------------- */

static void hex(const unsigned char *d, unsigned n, char *out)
{
    for (unsigned i = 0; i < n; i++)
        snprintf(out + 2 * i, 3, "%02x", d[i]);
}

/* The build's identity: the esbuild binary (path, size, mtime) and the flags. */
static void hash_identity(EVP_MD_CTX *md, const char *esbuild)
{
    struct stat st;
    char id[PATH_MAX + 64];
    int n = snprintf(id, sizeof(id), "isocore-bundle 1\n%s %lld %lld\n", esbuild,
                     stat(esbuild, &st) == 0 ? (long long)st.st_size : 0, stat(esbuild, &st) == 0 ? (long long)st.st_mtime : 0);
    EVP_DigestUpdate(md, id, (size_t)n);
    for (const char *const *f = flags; *f; f++)
        EVP_DigestUpdate(md, *f, strlen(*f) + 1);
}

/* SHA-256 (hex) of the identity and every input's path and bytes; false when an input can't be read. */
static bool hash_inputs(const char *esbuild, char *const *inputs, unsigned n, char out[65])
{
    EVP_MD_CTX *md = EVP_MD_CTX_new();
    if (!md)
        return false;
    EVP_DigestInit_ex(md, EVP_sha256(), NULL);
    hash_identity(md, esbuild);
    bool ok = true;
    for (unsigned i = 0; i < n && ok; i++) {
        size_t len;
        char *data = slurp(inputs[i], &len);
        ok = data != NULL;
        if (ok) {
            EVP_DigestUpdate(md, inputs[i], strlen(inputs[i]) + 1);
            EVP_DigestUpdate(md, &len, sizeof(len));
            EVP_DigestUpdate(md, data, len);
        }
        free(data);
    }
    unsigned char d[32];
    unsigned dl = 0;
    EVP_DigestFinal_ex(md, d, &dl);
    EVP_MD_CTX_free(md);
    hex(d, 32, out);
    return ok;
}

/* The manifest's name for an entry: SHA-256 of the entry path and the identity. */
static void entry_key(const char *esbuild, const char *entry, char out[65])
{
    EVP_MD_CTX *md = EVP_MD_CTX_new();
    unsigned char d[32] = {0};
    unsigned dl = 0;
    if (md) {
        EVP_DigestInit_ex(md, EVP_sha256(), NULL);
        hash_identity(md, esbuild);
        EVP_DigestUpdate(md, entry, strlen(entry));
        EVP_DigestFinal_ex(md, d, &dl);
        EVP_MD_CTX_free(md);
    }
    hex(d, 32, out);
}

/* ---- the cache ---------------------------------------------------------------------------------- */

void ic__bundle_cache_dir(char *out, size_t cap)
{
    const char *env = getenv("ISOCORE_CACHE_DIR");
    const char *xdg = getenv("XDG_CACHE_HOME");
    const char *home = getenv("HOME");
    if (env && *env)
        snprintf(out, cap, "%s", env);
    else if (xdg && *xdg)
        snprintf(out, cap, "%s/isocore", xdg);
    else
        snprintf(out, cap, "%s/.cache/isocore", home && *home ? home : "/tmp");
}

static void free_list(char **v, unsigned n)
{
    for (unsigned i = 0; i < n; i++)
        free(v[i]);
    free(v);
}

/* Reads a manifest: "hash HEX" then one input path a line. False when there is none (or it is bad). */
static bool manifest_read(const char *path, char hash[65], char ***inputs, unsigned *n)
{
    char *text = slurp(path, NULL);
    if (!text)
        return false;
    *inputs = NULL;
    *n = 0;
    bool ok = strncmp(text, "hash ", 5) == 0 && strlen(text) > 5 + 64 && text[69] == '\n';
    if (ok) {
        memcpy(hash, text + 5, 64);
        hash[64] = '\0';
        for (char *line = text + 70; *line && ok;) {
            char *nl = strchr(line, '\n');
            if (!nl)
                break;
            *nl = '\0';
            char **more = realloc(*inputs, (*n + 1) * sizeof(*more));
            ok = more && line[0] == '/';
            if (more)
                *inputs = more;
            if (ok && !((*inputs)[*n] = strdup(line)))
                ok = false;
            if (ok)
                (*n)++;
            line = nl + 1;
        }
    }
    free(text);
    if (!ok || *n == 0) {
        free_list(*inputs, *n);
        *inputs = NULL;
        *n = 0;
        return false;
    }
    return true;
}

static int manifest_write(const char *path, const char *hash, char *const *inputs, unsigned n)
{
    size_t cap = 80;
    for (unsigned i = 0; i < n; i++)
        cap += strlen(inputs[i]) + 1;
    char *text = malloc(cap);
    if (!text)
        return -ENOMEM;
    size_t off = (size_t)snprintf(text, cap, "hash %s\n", hash);
    for (unsigned i = 0; i < n; i++)
        off += (size_t)snprintf(text + off, cap - off, "%s\n", inputs[i]);
    int ret = write_file(path, text, off);
    free(text);
    return ret;
}

/* ---- a build ------------------------------------------------------------------------------------ */

/*
 * Rewrites the map's sources (relative to outdir) to absolute paths, and
 * lists the metafile's inputs (relative to cwd) as absolute paths. Returns
 * the new map text or NULL.
 */
static char *fix_map(const char *map_text, const char *outdir, size_t *len)
{
    json_error_t je;
    json_t *map = json_loads(map_text, 0, &je);
    if (!map)
        return NULL;
    json_t *sources = json_object_get(map, "sources");
    size_t i;
    json_t *s;
    json_array_foreach(sources, i, s)
    {
        if (!json_is_string(s))
            continue;
        char *abs = absolute(outdir, json_string_value(s));
        if (abs) {
            json_array_set_new(sources, i, json_string(abs));
            free(abs);
        }
    }
    char *out = json_dumps(map, JSON_COMPACT);
    json_decref(map);
    if (out)
        *len = strlen(out);
    return out;
}

static bool meta_inputs(const char *meta_path, const char *cwd, char ***inputs, unsigned *n)
{
    json_error_t je;
    json_t *meta = json_load_file(meta_path, 0, &je);
    *inputs = NULL;
    *n = 0;
    if (!meta)
        return false;
    json_t *in = json_object_get(meta, "inputs");
    const char *key;
    json_t *v;
    bool ok = json_is_object(in);
    json_object_foreach(in, key, v)
    {
        if (!ok)
            break;
        if (strchr(key, ':') && key[0] != '/')
            continue; /* a namespaced input ("data:…"): no file */
        char **more = realloc(*inputs, (*n + 1) * sizeof(*more));
        if (!more) {
            ok = false;
            break;
        }
        *inputs = more;
        if (!((*inputs)[*n] = absolute(cwd, key))) {
            ok = false;
            break;
        }
        (*n)++;
    }
    json_decref(meta);
    if (!ok) {
        free_list(*inputs, *n);
        *inputs = NULL;
        *n = 0;
    }
    return ok;
}

/* Removes a build's temporary directory and what esbuild wrote in it. */
static void rm_tmp(const char *tmp)
{
    static const char *const names[] = {"out.js", "out.js.map", "meta.json", NULL};
    char p[PATH_MAX + 16];
    for (const char *const *n = names; *n; n++) {
        snprintf(p, sizeof(p), "%s/%s", tmp, *n);
        unlink(p);
    }
    rmdir(tmp);
}

/* path as the user would type it: relative to the working directory when under it. */
static const char *shown(const char *path)
{
    char cwd[PATH_MAX];
    size_t n = getcwd(cwd, sizeof(cwd)) ? strlen(cwd) : 0;
    return n > 1 && strncmp(path, cwd, n) == 0 && path[n] == '/' ? path + n + 1 : path;
}

/* Runs esbuild on entry; on success stores the bundle under cache/HASH.js(.map) and the manifest, and fills b. */
static int build(const char *esbuild, const char *entry, const char *cache, const char *manifest, struct ic__bundle *b, char *err,
                 size_t errlen)
{
    char tmp[PATH_MAX];
    snprintf(tmp, sizeof(tmp), "%s/tmp.XXXXXX", cache);
    if (!mkdtemp(tmp)) {
        int e = errno;
        snprintf(err, errlen, "cannot make a build directory under %s: %s", cache, strerror(e));
        return IC_ECONFIG;
    }
    /* esbuild runs in our working directory, so that its messages name files as the user typed them (src/index.ts). */
    char outfile[PATH_MAX + 32], metafile[PATH_MAX + 32], outp[PATH_MAX + 16], mapp[PATH_MAX + 16];
    snprintf(outfile, sizeof(outfile), "--outfile=%s/out.js", tmp);
    snprintf(metafile, sizeof(metafile), "--metafile=%s/meta.json", tmp);
    snprintf(outp, sizeof(outp), "%s/out.js", tmp);
    snprintf(mapp, sizeof(mapp), "%s/out.js.map", tmp);
    char *argv[16];
    unsigned k = 0;
    argv[k++] = (char *)esbuild;
    argv[k++] = (char *)entry;
    for (const char *const *f = flags; *f; f++)
        argv[k++] = (char *)*f;
    argv[k++] = outfile;
    argv[k++] = metafile;
    argv[k] = NULL;
    char *out, *errtext;
    atomic_fetch_add(&runs, 1);
    int rc = run_child(argv, NULL, BUILD_TIMEOUT_MS, &out, &errtext);
    int ret = 0;
    if (rc != 0) {
        if (rc == -ETIMEDOUT)
            snprintf(err, errlen, "%s: esbuild took longer than %d s", entry, BUILD_TIMEOUT_MS / 1000);
        else if (rc < 0)
            snprintf(err, errlen, "%s: cannot run %s: %s", entry, esbuild, strerror(-rc));
        else
            snprintf(err, errlen, "%s: the build failed:\n%s", shown(entry),
                     errtext && *errtext ? errtext : "(esbuild said nothing)\n");
        ret = IC_ECONFIG;
    } else if (errtext && *errtext) {
        ic_log(IC_LOG_WARN, "%s: esbuild:\n%s", shown(entry), errtext); /* warnings, with their code frames */
    }
    free(out);
    free(errtext);
    char **inputs = NULL;
    unsigned n = 0;
    char hash[65];
    if (ret == 0 && !(b->src = slurp(outp, &b->len))) {
        snprintf(err, errlen, "%s: esbuild wrote no bundle", entry);
        ret = IC_ECONFIG;
    }
    char *map = ret == 0 ? slurp(mapp, NULL) : NULL;
    if (map) {
        b->map = fix_map(map, tmp, &b->maplen);
        free(map);
    }
    if (ret == 0 && (!meta_inputs(metafile + strlen("--metafile="), NULL, &inputs, &n) || n == 0)) {
        snprintf(err, errlen, "%s: esbuild's metafile could not be read", entry);
        ret = IC_ECONFIG;
    }
    rm_tmp(tmp);
    if (ret != 0) {
        free_list(inputs, n);
        return ret;
    }
    b->inputs = inputs;
    b->ninputs = n;
    /* Cached under the hash of what it was made of; a file that cannot be read now is simply not cached. */
    if (hash_inputs(esbuild, inputs, n, hash)) {
        char p[PATH_MAX + 80];
        snprintf(p, sizeof(p), "%s/%s.js", cache, hash);
        int w = write_file(p, b->src, b->len);
        if (w == 0 && b->map) {
            snprintf(p, sizeof(p), "%s/%s.js.map", cache, hash);
            w = write_file(p, b->map, b->maplen);
        }
        /* The entry's previous bundle goes: a cache of `isocore dev` edits would grow without end. */
        char old[65], **oldin;
        unsigned oldn;
        if (w == 0 && manifest_read(manifest, old, &oldin, &oldn)) {
            free_list(oldin, oldn);
            for (const char *ext = ".js"; strcmp(old, hash) != 0 && ext; ext = strcmp(ext, ".js") == 0 ? ".js.map" : NULL) {
                snprintf(p, sizeof(p), "%s/%s%s", cache, old, ext);
                unlink(p);
            }
        }
        if (w == 0)
            w = manifest_write(manifest, hash, inputs, n);
        if (w < 0)
            ic_log(IC_LOG_WARN, "%s: the bundle could not be cached in %s: %s", entry, cache, strerror(-w));
    }
    return 0;
}

/* The cached bundle of entry if its inputs are unchanged. */
static bool from_cache(const char *esbuild, const char *cache, const char *manifest, struct ic__bundle *b)
{
    char want[65], have[65];
    char **inputs;
    unsigned n;
    if (!manifest_read(manifest, want, &inputs, &n))
        return false;
    bool ok = hash_inputs(esbuild, inputs, n, have) && strcmp(want, have) == 0;
    if (ok) {
        char p[PATH_MAX + 80];
        snprintf(p, sizeof(p), "%s/%s.js", cache, want);
        ok = (b->src = slurp(p, &b->len)) != NULL;
        snprintf(p, sizeof(p), "%s/%s.js.map", cache, want);
        if (ok)
            b->map = slurp(p, &b->maplen);
    }
    if (!ok) {
        free(b->src);
        b->src = NULL;
        free_list(inputs, n);
        return false;
    }
    b->inputs = inputs;
    b->ninputs = n;
    b->cached = true;
    return true;
}

int ic__bundle_prepare(const char *main, struct ic__bundle *out, char *err, size_t errlen)
{
    memset(out, 0, sizeof(*out));
    main = shown(main);
    char *entry = absolute(NULL, main);
    if (!entry) {
        snprintf(err, errlen, "out of memory");
        return -ENOMEM;
    }
    struct graph g = {0};
    scan_file(&g, entry);
    if (!g.needs) {
        /* Today's path: the loader reads the files; they are listed for a watcher. */
        out->inputs = g.files;
        out->ninputs = g.n;
        free(entry);
        return 0;
    }
    char esbuild[PATH_MAX];
    if (!find_esbuild(esbuild, sizeof(esbuild))) {
        if (g.bare[0])
            snprintf(err, errlen,
                     "%s: isocore bundles packages with esbuild, which is not installed: apt-get install esbuild (or run "
                     "tools/setup.sh)",
                     g.reason);
        else
            snprintf(
                err, errlen,
                "%s: isocore compiles TypeScript and JSX with esbuild, which is not installed: apt-get install esbuild (or run "
                "tools/setup.sh)",
                g.reason);
        graph_free(&g);
        free(entry);
        return IC_ECONFIG;
    }
    graph_free(&g);
    char cache[PATH_MAX - 200], manifest[PATH_MAX];
    ic__bundle_cache_dir(cache, sizeof(cache));
    size_t cl = strlen(cache);
    snprintf(cache + cl, sizeof(cache) - cl, "/bundles");
    int ret = mkdirs(cache);
    if (ret < 0) {
        snprintf(err, errlen, "%s: cannot make the cache directory %s: %s (set ISOCORE_CACHE_DIR)", main, cache, strerror(-ret));
        free(entry);
        return IC_ECONFIG;
    }
    char key[65];
    entry_key(esbuild, entry, key);
    snprintf(manifest, sizeof(manifest), "%s/%s.manifest", cache, key);
    if (from_cache(esbuild, cache, manifest, out)) {
        ic_log(IC_LOG_INFO, "%s: bundle from the cache (%zu bytes)", main, out->len);
        free(entry);
        return 0;
    }
    struct timespec t0, t1;
    clock_gettime(CLOCK_MONOTONIC, &t0);
    ret = build(esbuild, entry, cache, manifest, out, err, errlen);
    clock_gettime(CLOCK_MONOTONIC, &t1);
    if (ret == 0)
        ic_log(IC_LOG_INFO, "%s: bundled by esbuild in %.0f ms (%zu bytes, %u files)", main,
               (double)(t1.tv_sec - t0.tv_sec) * 1e3 + (double)(t1.tv_nsec - t0.tv_nsec) / 1e6, out->len, out->ninputs);
    else
        ic__bundle_free(out);
    free(entry);
    return ret;
}

void ic__bundle_free(struct ic__bundle *b)
{
    free(b->src);
    free(b->map);
    free_list(b->inputs, b->ninputs);
    memset(b, 0, sizeof(*b));
}

/* ---- the router's workers ------------------------------------------------------------------------ */

int ic__router_config_bundle(struct ic_router_config *cfg, char *err, size_t errlen)
{
    for (unsigned i = 0; i < cfg->nworkers; i++) {
        struct ic__worker_cfg *w = &cfg->workers[i];
        if (w->kind == IC_JS_SCRIPT)
            continue; /* a classic script has no imports */
        char why[16384];
        int ret = ic__bundle_prepare(w->path, &w->bundle, why, sizeof(why));
        if (ret < 0) {
            if (errlen)
                snprintf(err, errlen, "%s: worker %s: %s", cfg->file, w->name, why);
            return ret;
        }
    }
    return 0;
}
