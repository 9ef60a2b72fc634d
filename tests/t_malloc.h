/*
 * t_malloc.h: an exact count of the bytes malloc has handed out and not
 * got back, for a test or benchmark program that includes this header in
 * one of its files (tests/js/test_recycle.c, bench/recycle.c).
 *
 * It replaces malloc and its family with wrappers around glibc's own
 * (glibc supports replacing malloc, and calls the replacement itself),
 * which add and subtract each block's usable size. glibc's mallinfo2 would
 * count the blocks its per-thread caches hold as in use, which moves by
 * kilobytes from one reading to the next; this count moves only with what
 * is allocated. Under AddressSanitizer malloc is ASan's: T_COUNTING is 0,
 * no wrapper is defined and t_malloc_live() is 0.
 */
#ifndef ISOCORE_T_MALLOC_H
#define ISOCORE_T_MALLOC_H

#include <errno.h>
#include <malloc.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <unistd.h>

#if defined(__SANITIZE_ADDRESS__)
#define T_COUNTING 0
#elif defined(__has_feature)
#if __has_feature(address_sanitizer)
#define T_COUNTING 0
#endif
#endif
#ifndef T_COUNTING
#define T_COUNTING 1
#endif

#if T_COUNTING
/* glibc's allocator under its other names (exported for replacements like this one). */
extern void *__libc_malloc(size_t n);
extern void *__libc_calloc(size_t n, size_t size);
extern void *__libc_realloc(void *p, size_t n);
extern void *__libc_memalign(size_t align, size_t n);
extern void __libc_free(void *p);

static _Atomic long long t_live; /* usable bytes of the blocks handed out and not freed */

static void *t_count(void *p)
{
    if (p)
        atomic_fetch_add_explicit(&t_live, (long long)malloc_usable_size(p), memory_order_relaxed);
    return p;
}

void *malloc(size_t n)
{
    return t_count(__libc_malloc(n));
}

void *calloc(size_t n, size_t size)
{
    return t_count(__libc_calloc(n, size));
}

void free(void *p)
{
    if (!p)
        return;
    atomic_fetch_sub_explicit(&t_live, (long long)malloc_usable_size(p), memory_order_relaxed);
    __libc_free(p);
}

void *realloc(void *p, size_t n)
{
    long long before = p ? (long long)malloc_usable_size(p) : 0;
    void *q = __libc_realloc(p, n);
    if (q || n == 0) /* realloc(p, 0) frees p; a failed realloc keeps it */
        atomic_fetch_sub_explicit(&t_live, before, memory_order_relaxed);
    return t_count(q);
}

void *reallocarray(void *p, size_t n, size_t size)
{
    if (size && n > (size_t)-1 / size) {
        errno = ENOMEM;
        return NULL;
    }
    return realloc(p, n * size);
}

void *memalign(size_t align, size_t n)
{
    return t_count(__libc_memalign(align, n));
}

void *aligned_alloc(size_t align, size_t n)
{
    return t_count(__libc_memalign(align, n));
}

int posix_memalign(void **out, size_t align, size_t n)
{
    if (align < sizeof(void *) || (align & (align - 1)))
        return EINVAL;
    void *p = __libc_memalign(align, n);
    if (!p)
        return ENOMEM;
    *out = t_count(p);
    return 0;
}

void *valloc(size_t n)
{
    return t_count(__libc_memalign((size_t)sysconf(_SC_PAGESIZE), n));
}

void *pvalloc(size_t n)
{
    size_t page = (size_t)sysconf(_SC_PAGESIZE);
    return t_count(__libc_memalign(page, (n + page - 1) & ~(page - 1)));
}

#endif /* T_COUNTING */

/* The usable bytes of the blocks handed out and not freed (0 without the count). */
static inline long long t_malloc_live(void)
{
#if T_COUNTING
    return atomic_load(&t_live);
#else
    return 0;
#endif
}

#endif
