/*
 * post.c: work handed to a reactor by threads that are not reactors.
 *
 * The SPSC mesh (smp.c) connects reactors to reactors; a thread outside it
 * (a V8 compile thread finishing a WebAssembly module, say) cannot own a
 * ring of the mesh. It posts instead: ic_reactor_post pushes an intrusive
 * ic_post_t onto the target's lock-free stack (a CAS loop on one pointer in
 * the target's shared block, so any number of producers may push at once),
 * and the target takes the whole stack with one atomic exchange at the top
 * of each loop turn, reverses it into posting order and runs it.
 *
 * Waking a sleeper follows the doorbell protocol of smp.c: the reactor
 * publishes `sleeping`, fences, and looks at its stack once more before it
 * blocks (submit_and_wait in reactor.c, through ic__posts_pending); a poster
 * pushes, fences, and rings only if the stack was empty before its push (a
 * non-empty stack has a poster before us that rang, or a reactor that will
 * see it) and the target says it sleeps. The ring is the target's eventfd:
 * msg_ring needs a ring of the sender's own, which a foreign thread lacks.
 *
 * When the reactor exits, the stack is swapped for IC__POSTS_CLOSED: later
 * pushes fail with IC_ESHUTDOWN, and what was queued runs right then.
 */
#include <errno.h>

#include "internal.h"

int ic_reactor_post(unsigned core, ic_post_t *post, ic_post_cb cb)
{
    struct ic__runtime *rt = ic__rt;
    if (!rt || core >= rt->n || !post || !cb)
        return -EINVAL;
    struct ic__reactor_shared *sh = &rt->sh[core];
    post->cb = cb;
    ic_post_t *head = atomic_load_explicit(&sh->posts, memory_order_relaxed);
    do {
        if (head == IC__POSTS_CLOSED)
            return IC_ESHUTDOWN;
        post->_next = head;
        /* Release: the reactor that takes the stack (acquire) sees post's fields and whatever the poster wrote before. */
    } while (!atomic_compare_exchange_weak_explicit(&sh->posts, &head, post, memory_order_release, memory_order_relaxed));
    if (head != NULL)
        return 0;
    /* Pairs with the fence in submit_and_wait: either the target sees our post before it sleeps, or we see `sleeping`. */
    atomic_thread_fence(memory_order_seq_cst);
    /* Only the thread that turns 1 into 0 rings: one wake-up per sleep (senders of smp.c share the flag). */
    if (atomic_load_explicit(&sh->sleeping, memory_order_relaxed) &&
        atomic_exchange_explicit(&sh->sleeping, 0, memory_order_relaxed))
        ic__doorbell_eventfd(core);
    return 0;
}

bool ic_reactor_exiting(void)
{
    return ic__self && ic__self->exiting;
}

/* Runs a taken stack (newest first) in posting order. */
static unsigned run_list(ic_post_t *p)
{
    ic_post_t *fifo = NULL;
    unsigned n = 0;
    while (p) {
        ic_post_t *next = p->_next;
        p->_next = fifo;
        fifo = p;
        p = next;
    }
    while (fifo) {
        ic_post_t *next = fifo->_next;
        /* After this call the post belongs to its owner again: it may be posted anew, or freed, from cb. */
        fifo->cb(fifo);
        fifo = next;
        n++;
    }
    return n;
}

/* Runs what was posted before this call; posts made by the callbacks wait for the next turn. Returns the count. */
unsigned ic__posts_run(struct ic__reactor *r)
{
    if (!atomic_load_explicit(&r->sh->posts, memory_order_relaxed))
        return 0; /* the common case: one plain load, no write to the shared line */
    ic_post_t *p = atomic_exchange_explicit(&r->sh->posts, NULL, memory_order_acquire);
    return run_list(p);
}

/* True when a post waits (read by the reactor before it sleeps, after its fence). */
bool ic__posts_pending(struct ic__reactor *r)
{
    ic_post_t *p = atomic_load_explicit(&r->sh->posts, memory_order_relaxed);
    return p != NULL && p != IC__POSTS_CLOSED;
}

/* Closes the stack for good and runs what was left in it (on the exiting reactor's thread). */
void ic__posts_close(struct ic__reactor *r)
{
    ic_post_t *p = atomic_exchange_explicit(&r->sh->posts, IC__POSTS_CLOSED, memory_order_acquire);
    if (p != IC__POSTS_CLOSED)
        run_list(p);
}
