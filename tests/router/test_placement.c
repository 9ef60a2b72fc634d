/*
 * test_placement.c: the placement policy alone (router/placement.h), with
 * no thread, clock or reactor: every figure is made up by the test. A
 * tenant whose owner is blocked gets a replica; load flows to the less
 * loaded replica; a replica inside a long entry is avoided (shedding);
 * replicas retire when the tenant has been calm; the caps hold; a tenant's
 * order is a stable permutation that spreads replicas over the cores.
 */
#include <criterion/criterion.h>
#include <stdio.h>
#include <string.h>

#include "../../router/placement.h"

#define MS 1000000ull
#define S 1000000000ull

static ic__place_params_t P;
static ic__place_load_t L[16];

static void t_setup(void)
{
    ic__place_params_init(&P);
    memset(L, 0, sizeof(L));
}

/* A tenant that has been around since t = 1 s, with no change of k since. */
static ic__place_tenant_t t_tenant(void)
{
    return (ic__place_tenant_t){0, 0, 0};
}

TestSuite(placement, .init = t_setup);

Test(placement, order_is_a_stable_permutation_led_by_the_owner)
{
    for (uint64_t key = 1; key < 2000; key += 7) {
        uint16_t a[16], b[16];
        ic__place_order(key * 0x9e3779b97f4a7c15ull, 16, a, 16);
        ic__place_order(key * 0x9e3779b97f4a7c15ull, 16, b, 16);
        cr_assert_eq(memcmp(a, b, sizeof(a)), 0, "the same key gave two orders");
        cr_assert_eq(a[0], (key * 0x9e3779b97f4a7c15ull) % 16, "the owner is not key mod n");
        unsigned seen = 0;
        for (unsigned i = 0; i < 16; i++) {
            cr_assert_lt(a[i], 16);
            cr_assert_eq(seen >> a[i] & 1, 0, "core %u twice in an order", a[i]);
            seen |= 1u << a[i];
        }
        /* A shorter order is the prefix of the longer one. */
        uint16_t c[3];
        ic__place_order(key * 0x9e3779b97f4a7c15ull, 16, c, 3);
        cr_assert_eq(memcmp(a, c, sizeof(c)), 0);
    }
    /* The owner is ic_router_owner_of's, from the name. */
    uint16_t o;
    ic__place_order(ic__place_key("hello"), 7, &o, 1);
    cr_assert_eq(o, ic__place_key("hello") % 7);
}

Test(placement, second_replicas_spread_over_the_cores)
{
    unsigned count[8] = {0};
    char name[32];
    for (unsigned i = 0; i < 4000; i++) {
        snprintf(name, sizeof(name), "tenant-%u", i);
        uint16_t o[2];
        ic__place_order(ic__place_key(name), 8, o, 2);
        cr_assert_neq(o[0], o[1]);
        count[o[1]]++;
    }
    /* 500 expected per core; a hash that sent every second replica to a few cores would fail this. */
    for (unsigned c = 0; c < 8; c++)
        cr_assert(count[c] > 350 && count[c] < 650, "core %u is the second replica of %u tenants of 4000", c, count[c]);
}

Test(placement, a_blocked_owner_gets_its_tenant_a_replica)
{
    uint16_t order[4] = {2, 0, 3, 1};
    ic__place_tenant_t t = t_tenant();
    /* Calm: one replica stays one. */
    cr_assert_eq(ic__place_decide(&P, &t, order, 1, 0, 4, L, 1 * S), 1);
    /* The owner has been inside one entry for 5 ms: a request arriving on core 0 adds core 0 (order[1]). */
    L[2].busy_ns = 5 * MS;
    cr_assert_eq(ic__place_decide(&P, &t, order, 1, 0, 4, L, 1 * S), 2);
    /* ...and is then run there, not behind the long entry. */
    cr_assert_eq(ic__place_pick(&P, order, 2, 0, L, 12345), 0);
    /* From a core that is not a replica, it goes to the replica that is not blocked, whatever the random number. */
    for (uint64_t rnd = 0; rnd < 64; rnd++)
        cr_assert_eq(ic__place_pick(&P, order, 2, 1, L, rnd * 0x9e3779b97f4a7c15ull), 0);
    /* Right after a change, no second one for the same burst (grow_gap_ns). */
    t.changed_ns = 1 * S;
    cr_assert_eq(ic__place_decide(&P, &t, order, 2, 0, 4, L, 1 * S + P.grow_gap_ns / 2), 2);
    cr_assert_eq(ic__place_decide(&P, &t, order, 2, 0, 4, L, 1 * S + P.grow_gap_ns), 3);
}

Test(placement, a_tenant_that_waits_gets_a_replica)
{
    uint16_t order[2] = {1, 0};
    ic__place_tenant_t t = t_tenant();
    /* Requests that waited 0.1 ms: calm. */
    for (int i = 0; i < 50; i++)
        ic__place_observe(&P, &t, 100000, 1 * S + (uint64_t)i * MS);
    cr_assert_lt(t.queue_ns, P.calm_ns);
    cr_assert_neq(t.calm_since_ns, 0);
    cr_assert_eq(ic__place_decide(&P, &t, order, 1, 1, 2, L, 2 * S), 1);
    /* Then they wait 10 ms each: the EWMA passes replicate_ns within a few requests, and k grows. */
    int n = 0;
    while (t.queue_ns < P.replicate_ns && n < 100)
        ic__place_observe(&P, &t, 10 * MS, 2 * S + (uint64_t)n++ * MS);
    cr_assert_lt(n, 10, "the EWMA took %d requests of 10 ms to pass 2 ms", n);
    cr_assert_eq(t.calm_since_ns, 0);
    cr_assert_eq(ic__place_decide(&P, &t, order, 1, 1, 2, L, 3 * S), 2);
}

Test(placement, load_flows_to_the_less_loaded_replica)
{
    uint16_t order[3] = {4, 7, 2};
    L[4].queue_ns = 3 * MS;
    L[7].queue_ns = 10000;
    L[2].queue_ns = 2 * MS;
    unsigned got[8] = {0};
    /* From a core that is no replica: two choices among three, so the least loaded always wins when it is drawn. */
    for (uint64_t i = 0; i < 3000; i++) {
        uint64_t rnd = (i + 1) * 0x9e3779b97f4a7c15ull;
        rnd ^= rnd >> 29;
        got[ic__place_pick(&P, order, 3, 0, L, rnd)]++;
    }
    cr_assert_eq(got[4] + got[7] + got[2], 3000, "a request went to a core that is no replica");
    cr_assert_gt(got[7], got[2]);
    cr_assert_gt(got[2], got[4]);
    cr_assert_eq(got[4], 0, "the most loaded of three replicas never wins two choices");
    cr_assert_gt(got[7], 1500, "the least loaded replica got %u of 3000", got[7]);
    /* From a replica: it keeps the request unless another is less loaded by more than a hop costs. */
    L[2].queue_ns = L[7].queue_ns + P.hop_ns / 2;
    for (uint64_t rnd = 0; rnd < 64; rnd++)
        cr_assert_eq(ic__place_pick(&P, order, 3, 2, L, rnd * 0x9e3779b97f4a7c15ull), 2);
    L[2].queue_ns = L[4].queue_ns + P.hop_ns * 4;
    for (uint64_t rnd = 0; rnd < 64; rnd++) {
        unsigned c = ic__place_pick(&P, order, 3, 2, L, rnd * 0x9e3779b97f4a7c15ull);
        cr_assert(c == 7 || c == 4, "stayed on a replica loaded more than a hop over both others (went to %u)", c);
    }
}

Test(placement, a_replica_inside_a_long_entry_is_avoided)
{
    uint16_t order[3] = {1, 0, 2};
    /* The owner (where the request arrived, e.g. a service call from JS) is inside a long entry; core 2 is loaded but free. */
    L[1].busy_ns = 4 * MS;
    L[0].busy_ns = 3 * MS;
    L[2].queue_ns = 1 * MS;
    for (uint64_t rnd = 0; rnd < 64; rnd++)
        cr_assert_eq(ic__place_pick(&P, order, 3, 1, L, rnd * 0x9e3779b97f4a7c15ull), 2);
    /* Every replica is inside one: it goes to one of them (nothing is refused), the least loaded. */
    L[2].busy_ns = 2 * MS;
    for (uint64_t rnd = 0; rnd < 64; rnd++) {
        unsigned c = ic__place_pick(&P, order, 3, 1, L, rnd * 0x9e3779b97f4a7c15ull);
        cr_assert(c == 0 || c == 1 || c == 2);
    }
    /* One replica (k = 1): always the owner, blocked or not. */
    cr_assert_eq(ic__place_pick(&P, order, 1, 0, L, 99), 1);
}

Test(placement, replicas_retire_when_idle)
{
    uint16_t order[3] = {1, 0, 2};
    ic__place_tenant_t t = t_tenant();
    t.changed_ns = 1 * S; /* k became 3 at 1 s */
    for (int i = 0; i < 20; i++)
        ic__place_observe(&P, &t, 50000, 1 * S + (uint64_t)i * MS);
    uint64_t calm = t.calm_since_ns;
    cr_assert_neq(calm, 0);
    /* Not yet: calm for less than retire_ns. */
    cr_assert_eq(ic__place_decide(&P, &t, order, 3, 1, 3, L, calm + P.retire_ns / 2), 3);
    /* Calm for retire_ns: the owner lowers k by one; another core never does. */
    cr_assert_eq(ic__place_decide(&P, &t, order, 3, 1, 3, L, calm + P.retire_ns + 1), 2);
    cr_assert_eq(ic__place_decide(&P, &t, order, 3, 0, 3, L, calm + P.retire_ns + 1), 3);
    /* One at a time: the next retirement waits retire_ns after the change. */
    t.changed_ns = calm + P.retire_ns + 1;
    cr_assert_eq(ic__place_decide(&P, &t, order, 2, 1, 3, L, calm + P.retire_ns + 2), 2);
    cr_assert_eq(ic__place_decide(&P, &t, order, 2, 1, 3, L, t.changed_ns + P.retire_ns), 1);
    /* The owner alone never goes. */
    cr_assert_eq(ic__place_decide(&P, &t, order, 1, 1, 3, L, t.changed_ns + 10 * P.retire_ns), 1);
    /* A burst ends the calm: no retirement then, a replica more instead. */
    ic__place_observe(&P, &t, 100 * MS, t.changed_ns + P.retire_ns);
    cr_assert_eq(t.calm_since_ns, 0);
    cr_assert_eq(ic__place_decide(&P, &t, order, 2, 1, 3, L, t.changed_ns + 3 * P.retire_ns), 3);
}

Test(placement, caps_hold)
{
    uint16_t order[4] = {3, 1, 0, 2};
    ic__place_tenant_t t = t_tenant();
    L[3].busy_ns = 50 * MS; /* the owner is blocked: every decision wants one more */
    /* Not past the cores. */
    cr_assert_eq(ic__place_decide(&P, &t, order, 4, 0, 4, L, 1 * S), 4);
    /* Not past max_replicas. */
    P.max_replicas = 2;
    cr_assert_eq(ic__place_decide(&P, &t, order, 1, 0, 4, L, 1 * S), 2);
    cr_assert_eq(ic__place_decide(&P, &t, order, 2, 0, 4, L, 1 * S), 2);
    /* Not onto a core at its isolate budget (the next core of the order is core 0, then core 2 for k = 2). */
    P.max_replicas = 0;
    P.isolate_budget = 10;
    L[1].isolates = 10;
    cr_assert_eq(ic__place_decide(&P, &t, order, 1, 0, 4, L, 1 * S), 1);
    L[1].isolates = 9;
    cr_assert_eq(ic__place_decide(&P, &t, order, 1, 0, 4, L, 1 * S), 2);
    L[0].isolates = 11;
    cr_assert_eq(ic__place_decide(&P, &t, order, 2, 0, 4, L, 1 * S), 2);
    /* And the pick never leaves the first k cores of the order. */
    for (unsigned k = 1; k <= 4; k++)
        for (uint64_t rnd = 0; rnd < 200; rnd++) {
            unsigned c = ic__place_pick(&P, order, k, rnd % 4, L, rnd * 0x9e3779b97f4a7c15ull);
            bool in = false;
            for (unsigned i = 0; i < k; i++)
                in |= order[i] == c;
            cr_assert(in, "k = %u: core %u is no replica", k, c);
        }
}
