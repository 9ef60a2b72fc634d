/*
 * test_placement.c: the placement policy alone (router/placement.h), with
 * no thread, clock or reactor: every figure is made up by the test. A
 * tenant whose owner is blocked gets a replica; load flows to the less
 * loaded replica; a replica inside a long entry is avoided (shedding);
 * replicas retire when the tenant has been calm; the caps hold; a tenant's
 * order is a stable permutation that spreads replicas over the cores; the
 * first replica waits first_gap_ns and later ones come every grow_gap_ns;
 * the default isolate budget; a delay seen while the core's thread was not
 * running (a low work share) does not grow k; a replica that is not calm
 * keeps its owner from retiring it.
 */
#include <criterion/criterion.h>
#include <stdio.h>
#include <string.h>

#include "../../router/placement.h"

#define MS 1000000ull
#define S 1000000000ull

static ic__place_params_t P;
static ic__place_load_t L[16]; /* by core: the tests set core c's figures in L[c] */
static ic__place_load_t Lp[16];

/* The loads as pick and decide take them: by position in the tenant's order (Lp[i] is core order[i]'s). */
static const ic__place_load_t *t_at(const uint16_t *order, unsigned n)
{
    for (unsigned i = 0; i < n; i++)
        Lp[i] = L[order[i]];
    return Lp;
}
#define AT(order) t_at(order, sizeof(order) / sizeof(order[0]))
#define ONE IC__PLACE_ONE

static void t_setup(void)
{
    ic__place_params_init(&P);
    memset(L, 0, sizeof(L));
    for (unsigned c = 0; c < 16; c++)
        L[c].work = IC__PLACE_ONE; /* busy with work: a delay is load (a_delay_while_the_thread_did_not_run_…: not) */
}

/* A tenant that has been around since t = 1 s, with no change of k since. */
static ic__place_tenant_t t_tenant(void)
{
    return (ic__place_tenant_t){0, 0, 0, 0};
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
    cr_assert_eq(ic__place_decide(&P, &t, order, 1, 0, 4, AT(order), 1 * S), 1);
    /* The owner has been inside one entry for 5 ms: a request arriving on core 0 adds core 0 (order[1]). */
    L[2].busy_ns = 5 * MS;
    cr_assert_eq(ic__place_decide(&P, &t, order, 1, 0, 4, AT(order), 1 * S), 2);
    /* ...and is then run there, not behind the long entry. */
    cr_assert_eq(ic__place_pick(&P, order, 2, 0, AT(order), 12345), 0);
    /* From a core that is not a replica, it goes to the replica that is not blocked, whatever the random number. */
    for (uint64_t rnd = 0; rnd < 64; rnd++)
        cr_assert_eq(ic__place_pick(&P, order, 2, 1, AT(order), rnd * 0x9e3779b97f4a7c15ull), 0);
    /* Right after a change, no second one for the same burst (grow_gap_ns). */
    t.changed_ns = 1 * S;
    cr_assert_eq(ic__place_decide(&P, &t, order, 2, 0, 4, AT(order), 1 * S + P.grow_gap_ns / 2), 2);
    cr_assert_eq(ic__place_decide(&P, &t, order, 2, 0, 4, AT(order), 1 * S + P.grow_gap_ns), 3);
}

Test(placement, a_tenant_that_waits_gets_a_replica)
{
    uint16_t order[2] = {1, 0};
    ic__place_tenant_t t = t_tenant();
    /* Requests that waited 0.1 ms: calm. */
    for (int i = 0; i < 50; i++)
        ic__place_observe(&P, &t, 100000, ONE, 1 * S + (uint64_t)i * MS);
    cr_assert_lt(t.queue_ns, P.calm_ns);
    cr_assert_neq(t.calm_since_ns, 0);
    cr_assert_eq(ic__place_decide(&P, &t, order, 1, 1, 2, AT(order), 2 * S), 1);
    /* Then they wait 10 ms each: the EWMA passes replicate_ns within a few requests, and k grows. */
    int n = 0;
    while (t.queue_ns < P.replicate_ns && n < 100)
        ic__place_observe(&P, &t, 10 * MS, ONE, 2 * S + (uint64_t)n++ * MS);
    cr_assert_lt(n, 10, "the EWMA took %d requests of 10 ms to pass 2 ms", n);
    cr_assert_eq(t.calm_since_ns, 0);
    cr_assert_eq(ic__place_decide(&P, &t, order, 1, 1, 2, AT(order), 3 * S), 2);
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
        got[ic__place_pick(&P, order, 3, 0, AT(order), rnd)]++;
    }
    cr_assert_eq(got[4] + got[7] + got[2], 3000, "a request went to a core that is no replica");
    cr_assert_gt(got[7], got[2]);
    cr_assert_gt(got[2], got[4]);
    cr_assert_eq(got[4], 0, "the most loaded of three replicas never wins two choices");
    cr_assert_gt(got[7], 1500, "the least loaded replica got %u of 3000", got[7]);
    /* From a replica: it keeps the request unless another is less loaded by more than a hop costs. */
    L[2].queue_ns = L[7].queue_ns + P.hop_ns / 2;
    for (uint64_t rnd = 0; rnd < 64; rnd++)
        cr_assert_eq(ic__place_pick(&P, order, 3, 2, AT(order), rnd * 0x9e3779b97f4a7c15ull), 2);
    L[2].queue_ns = L[4].queue_ns + P.hop_ns * 4;
    for (uint64_t rnd = 0; rnd < 64; rnd++) {
        unsigned c = ic__place_pick(&P, order, 3, 2, AT(order), rnd * 0x9e3779b97f4a7c15ull);
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
        cr_assert_eq(ic__place_pick(&P, order, 3, 1, AT(order), rnd * 0x9e3779b97f4a7c15ull), 2);
    /* Every replica is inside one: it goes to one of them (nothing is refused), the least loaded. */
    L[2].busy_ns = 2 * MS;
    for (uint64_t rnd = 0; rnd < 64; rnd++) {
        unsigned c = ic__place_pick(&P, order, 3, 1, AT(order), rnd * 0x9e3779b97f4a7c15ull);
        cr_assert(c == 0 || c == 1 || c == 2);
    }
    /* One replica (k = 1): always the owner, blocked or not. */
    cr_assert_eq(ic__place_pick(&P, order, 1, 0, AT(order), 99), 1);
}

Test(placement, replicas_retire_when_idle)
{
    uint16_t order[3] = {1, 0, 2};
    ic__place_tenant_t t = t_tenant();
    t.changed_ns = 1 * S; /* k became 3 at 1 s */
    for (int i = 0; i < 20; i++)
        ic__place_observe(&P, &t, 50000, ONE, 1 * S + (uint64_t)i * MS);
    uint64_t calm = t.calm_since_ns;
    cr_assert_neq(calm, 0);
    /* Not yet: calm for less than retire_ns. */
    cr_assert_eq(ic__place_decide(&P, &t, order, 3, 1, 3, AT(order), calm + P.retire_ns / 2), 3);
    /* Calm for retire_ns: the owner lowers k by one; another core never does. */
    cr_assert_eq(ic__place_decide(&P, &t, order, 3, 1, 3, AT(order), calm + P.retire_ns + 1), 2);
    cr_assert_eq(ic__place_decide(&P, &t, order, 3, 0, 3, AT(order), calm + P.retire_ns + 1), 3);
    /* One at a time: the next retirement waits retire_ns after the change. */
    t.changed_ns = calm + P.retire_ns + 1;
    cr_assert_eq(ic__place_decide(&P, &t, order, 2, 1, 3, AT(order), calm + P.retire_ns + 2), 2);
    cr_assert_eq(ic__place_decide(&P, &t, order, 2, 1, 3, AT(order), t.changed_ns + P.retire_ns), 1);
    /* The owner alone never goes. */
    cr_assert_eq(ic__place_decide(&P, &t, order, 1, 1, 3, AT(order), t.changed_ns + 10 * P.retire_ns), 1);
    /* A burst ends the calm: no retirement then, a replica more instead. */
    ic__place_observe(&P, &t, 100 * MS, ONE, t.changed_ns + P.retire_ns);
    cr_assert_eq(t.calm_since_ns, 0);
    cr_assert_eq(ic__place_decide(&P, &t, order, 2, 1, 3, AT(order), t.changed_ns + 3 * P.retire_ns), 3);
}

Test(placement, caps_hold)
{
    uint16_t order[4] = {3, 1, 0, 2};
    ic__place_tenant_t t = t_tenant();
    L[3].busy_ns = 50 * MS; /* the owner is blocked: every decision wants one more */
    /* Not past the cores. */
    cr_assert_eq(ic__place_decide(&P, &t, order, 4, 0, 4, AT(order), 1 * S), 4);
    /* Not past max_replicas. */
    P.max_replicas = 2;
    cr_assert_eq(ic__place_decide(&P, &t, order, 1, 0, 4, AT(order), 1 * S), 2);
    cr_assert_eq(ic__place_decide(&P, &t, order, 2, 0, 4, AT(order), 1 * S), 2);
    /* Not onto a core at its isolate budget (the next core of the order is core 0, then core 2 for k = 2). */
    P.max_replicas = 0;
    P.isolate_budget = 10;
    L[1].isolates = 10;
    cr_assert_eq(ic__place_decide(&P, &t, order, 1, 0, 4, AT(order), 1 * S), 1);
    L[1].isolates = 9;
    cr_assert_eq(ic__place_decide(&P, &t, order, 1, 0, 4, AT(order), 1 * S), 2);
    L[0].isolates = 11;
    cr_assert_eq(ic__place_decide(&P, &t, order, 2, 0, 4, AT(order), 1 * S), 2);
    /* And the pick never leaves the first k cores of the order. */
    for (unsigned k = 1; k <= 4; k++)
        for (uint64_t rnd = 0; rnd < 200; rnd++) {
            unsigned c = ic__place_pick(&P, order, k, rnd % 4, AT(order), rnd * 0x9e3779b97f4a7c15ull);
            bool in = false;
            for (unsigned i = 0; i < k; i++)
                in |= order[i] == c;
            cr_assert(in, "k = %u: core %u is no replica", k, c);
        }
}

Test(placement, the_first_replica_waits_later_ones_grow_within_the_gap)
{
    uint16_t order[16];
    for (unsigned i = 0; i < 16; i++)
        order[i] = (uint16_t)((i + 5) % 16);
    ic__place_tenant_t t = t_tenant();
    t.changed_ns = 1 * S; /* placed at 1 s (a fresh start: every core busy with cold starts) */
    L[5].busy_ns = 5 * MS;
    cr_assert_lt(P.grow_gap_ns, P.first_gap_ns / 4, "growth after the first replica is not faster than the first");
    /* Pressed, but the first replica waits first_gap_ns from the start. */
    cr_assert_eq(ic__place_decide(&P, &t, order, 1, 0, 16, AT(order), 1 * S + P.first_gap_ns - 1), 1);
    cr_assert_eq(ic__place_decide(&P, &t, order, 1, 0, 16, AT(order), 1 * S + P.first_gap_ns), 2);
    /* Then every grow_gap_ns, well within a first gap: from 2 to 16 replicas in 14 gaps. */
    uint64_t now = 1 * S + P.first_gap_ns;
    unsigned k = 2;
    t.changed_ns = now;
    while (k < 16) {
        cr_assert_eq(ic__place_decide(&P, &t, order, k, 0, 16, AT(order), now + P.grow_gap_ns - 1), k, "k = %u grew early", k);
        now += P.grow_gap_ns;
        unsigned nk = ic__place_decide(&P, &t, order, k, 0, 16, AT(order), now);
        cr_assert_eq(nk, k + 1, "k = %u did not grow after grow_gap_ns", k);
        k = nk;
        t.changed_ns = now;
    }
    cr_assert_leq(now - (1 * S + P.first_gap_ns), 14 * P.grow_gap_ns);
    /* Back to one replica (k changed at `now`): the next first replica waits first_gap_ns again. */
    cr_assert_eq(ic__place_decide(&P, &t, order, 1, 0, 16, AT(order), now + P.grow_gap_ns), 1);
    cr_assert_eq(ic__place_decide(&P, &t, order, 1, 0, 16, AT(order), now + P.first_gap_ns), 2);
}

Test(placement, the_default_isolate_budget_holds)
{
    /* Twice the tenants a core owns on average, and 2 more. */
    cr_assert_eq(ic__place_budget(100, 2), 102);
    cr_assert_eq(ic__place_budget(100, 64), 6);
    cr_assert_eq(ic__place_budget(1000, 64), 34);
    cr_assert_eq(ic__place_budget(1, 64), 4);
    cr_assert_eq(ic__place_budget(5, 0), 12);
    /* A storm: every tenant of 1000 on 16 cores pressed; replicas stop at the budget of the next core of each order. */
    P.isolate_budget = ic__place_budget(1000, 16);
    unsigned iso[16] = {0}, births = 0;
    char name[32];
    for (unsigned t = 0; t < 1000; t++) {
        uint16_t o[16];
        snprintf(name, sizeof(name), "t%u", t);
        ic__place_order(ic__place_key(name), 16, o, 16);
        iso[o[0]]++; /* its owner's isolate */
    }
    for (unsigned round = 0; round < 16; round++)
        for (unsigned t = 0; t < 1000; t++) {
            uint16_t o[16];
            snprintf(name, sizeof(name), "t%u", t);
            ic__place_order(ic__place_key(name), 16, o, 16);
            memset(L, 0, sizeof(L));
            for (unsigned c = 0; c < 16; c++)
                L[c].isolates = iso[c];
            L[o[0]].busy_ns = 10 * MS;
            ic__place_tenant_t f = t_tenant();
            unsigned k = 1 + (round < 15 ? round : 15);
            if (k < 16 && ic__place_decide(&P, &f, o, k, o[0], 16, t_at(o, 16), 1 * S) == k + 1) {
                iso[o[k]]++;
                births++;
            }
        }
    for (unsigned c = 0; c < 16; c++)
        cr_assert_leq(iso[c], P.isolate_budget, "core %u holds %u isolates, budget %u", c, iso[c], P.isolate_budget);
    cr_assert_gt(births, 0);
    cr_assert_lt(births, 16 * P.isolate_budget, "%u births", births);
}

Test(placement, work_share_by_windows)
{
    unsigned w = 0;
    /* A thread that ran a tenth of each window stays near a tenth. */
    for (int i = 0; i < 100; i++)
        w = ic__place_work(&P, w, 100000, 1 * MS);
    cr_assert(w > ONE / 10 - 16 && w <= ONE / 10, "share %u of %u", w, ONE);
    /* Busy every window: it climbs to all of it (work past the wall, a long entry that straddles windows, caps at ONE). */
    for (int i = 0; i < 100; i++)
        w = ic__place_work(&P, w, 3 * MS, 1 * MS);
    cr_assert_geq(w, ONE - 8);
    cr_assert_leq(w, ONE);
    /* No wall time: nothing to learn. */
    cr_assert_eq(ic__place_work(&P, w, 5, 0), w);
}

Test(placement, a_delay_while_the_thread_did_not_run_does_not_grow_k)
{
    uint16_t order[2] = {1, 0};
    ic__place_tenant_t t = t_tenant();
    /*
     * Requests wait 10 ms each on a core whose thread ran an eighth of the time (other processes had the CPU): no evidence of
     * load, k stays, and the tenant is calm.
     */
    for (int i = 0; i < 50; i++)
        ic__place_observe(&P, &t, 10 * MS, ONE / 8, 1 * S + (uint64_t)i * MS);
    cr_assert_lt(t.queue_ns, P.replicate_ns);
    cr_assert_neq(t.calm_since_ns, 0);
    cr_assert_eq(ic__place_decide(&P, &t, order, 1, 1, 2, AT(order), 2 * S), 1);
    cr_assert_eq(ic__place_decide(&P, &t, order, 2, 1, 2, AT(order), 2 * S), 2);
    /* The same waits on a core busy three quarters of the time: load, and k grows. */
    for (int i = 0; i < 50; i++)
        ic__place_observe(&P, &t, 10 * MS, 3 * ONE / 4, 2 * S + (uint64_t)i * MS);
    cr_assert_geq(t.queue_ns, P.replicate_ns);
    cr_assert_eq(ic__place_decide(&P, &t, order, 1, 1, 2, AT(order), 3 * S), 2);
    /* Its core is no longer busy (the backlog drained, or the thread lost the CPU): the delay the EWMA remembers is old. */
    L[1].work = ONE / 8;
    cr_assert_eq(ic__place_decide(&P, &t, order, 1, 1, 2, AT(order), 3 * S), 1);
    /* With replicas, any of them busy keeps it evidence. */
    L[0].work = ONE;
    cr_assert_eq(ic__place_decide(&P, &t, order, 1, 1, 2, AT(order), 3 * S), 1, "core 0 is no replica at k = 1");
    L[0].work = 0;
    L[1].work = ONE;
    /* The owner inside a long entry is evidence whatever the share (it is seen, not inferred from waits). */
    ic__place_tenant_t u = t_tenant();
    L[1].busy_ns = 5 * MS;
    cr_assert_eq(ic__place_decide(&P, &u, order, 1, 0, 2, AT(order), 3 * S), 2);
    /* With work_min 0, every delay counts (the policy before this rule: bench/sim --old). */
    P.work_min = 0;
    ic__place_tenant_t v = t_tenant();
    for (int i = 0; i < 50; i++)
        ic__place_observe(&P, &v, 10 * MS, 0, 1 * S + (uint64_t)i * MS);
    cr_assert_geq(v.queue_ns, P.replicate_ns);
}

Test(placement, a_first_replica_for_delay_needs_the_delay_to_last)
{
    uint16_t order[4] = {2, 0, 3, 1};
    ic__place_tenant_t t = t_tenant();
    /* A backlog (the cold starts of a fresh start, then what queued behind them): 10 ms waits from 1 s, for 30 ms. */
    uint64_t now = 1 * S;
    for (; now < 1 * S + 30 * MS; now += 100000)
        ic__place_observe(&P, &t, 10 * MS, ONE, now);
    cr_assert_geq(t.queue_ns, P.replicate_ns);
    cr_assert_lt(now - t.pressed_since_ns, P.sustain_ns);
    cr_assert_eq(ic__place_decide(&P, &t, order, 1, 2, 4, AT(order), now), 1, "a first replica for a 30 ms backlog");
    /* It drains: a break, and the count starts again. */
    for (int i = 0; i < 40; i++, now += 100000)
        ic__place_observe(&P, &t, 10000, ONE, now);
    cr_assert_eq(t.pressed_since_ns, 0);
    /* Waits that last sustain_ns: loaded, not unlucky. */
    uint64_t from = now;
    while (now - from < P.sustain_ns + 5 * MS) {
        ic__place_observe(&P, &t, 10 * MS, ONE, now);
        now += 100000;
    }
    cr_assert_eq(ic__place_decide(&P, &t, order, 1, 2, 4, AT(order), now), 2);
    /* Once it has a replica, its delay alone grows it (no new wait for it to last): later growth is fast. */
    ic__place_tenant_t u = t_tenant();
    u.changed_ns = now;
    for (int i = 0; i < 20; i++)
        ic__place_observe(&P, &u, 10 * MS, ONE, now + (uint64_t)i * 100000);
    cr_assert_eq(ic__place_decide(&P, &u, order, 2, 2, 4, AT(order), now + P.grow_gap_ns), 3);
}

Test(placement, a_replica_inside_a_long_entry_grows_k_too)
{
    uint16_t order[4] = {3, 1, 0, 2};
    ic__place_tenant_t t = t_tenant();
    /* Two replicas; the second (core 1) is inside a 5 ms entry, the owner is not: shedding has one core left, k grows. */
    L[1].busy_ns = 5 * MS;
    cr_assert_eq(ic__place_decide(&P, &t, order, 2, 0, 4, AT(order), 1 * S), 3);
    /* A core that is no replica (core 0, order[2]) inside one says nothing about the tenant. */
    L[1].busy_ns = 0;
    L[0].busy_ns = 5 * MS;
    cr_assert_eq(ic__place_decide(&P, &t, order, 2, 0, 4, AT(order), 1 * S), 2);
    /* The knob off (the policy before): only the owner's entry counts. */
    L[0].busy_ns = 0;
    L[1].busy_ns = 5 * MS;
    P.any_blocked = false;
    cr_assert_eq(ic__place_decide(&P, &t, order, 2, 0, 4, AT(order), 1 * S), 2);
}

Test(placement, a_replica_that_is_not_calm_keeps_the_owner_from_retiring_it)
{
    uint16_t order[2] = {0, 1};
    ic__place_tenant_t t = t_tenant();
    t.changed_ns = 1 * S; /* k became 2 at 1 s */
    for (int i = 0; i < 20; i++)
        ic__place_observe(&P, &t, 50000, ONE, 1 * S + (uint64_t)i * MS);
    uint64_t calm = t.calm_since_ns, late = calm + P.retire_ns + 1;
    cr_assert_neq(calm, 0);
    /* Calm replicas: the owner's own calm is what counts, and it retires one after retire_ns. */
    uint64_t delay[2] = {0, P.calm_ns / 2};
    ic__place_tenant_t u = t;
    ic__place_replicas_seen(&P, &u, 2, delay, AT(order), late);
    cr_assert_eq(u.calm_since_ns, calm);
    cr_assert_eq(ic__place_decide(&P, &u, order, 2, 0, 2, AT(order), late), 1);
    /* The replica's requests wait: the owner's calm clock starts again, no retirement for retire_ns more. */
    delay[1] = P.calm_ns;
    u = t;
    ic__place_replicas_seen(&P, &u, 2, delay, AT(order), late);
    cr_assert_geq(u.calm_since_ns, late);
    cr_assert_eq(ic__place_decide(&P, &u, order, 2, 0, 2, AT(order), late + P.retire_ns / 2), 2);
    cr_assert_eq(ic__place_decide(&P, &u, order, 2, 0, 2, AT(order), late + P.retire_ns + 1), 1);
    /* The replica's core inside a long entry (a heavy request) does the same, though its delay is calm. */
    delay[1] = 0;
    L[1].busy_ns = P.replicate_ns;
    u = t;
    ic__place_replicas_seen(&P, &u, 2, delay, AT(order), late);
    cr_assert_geq(u.calm_since_ns, late);
    cr_assert_eq(ic__place_decide(&P, &u, order, 2, 0, 2, AT(order), late), 2);
    /* A tenant that is not calm stays so (the clock is not started by its replicas). */
    u = t;
    u.calm_since_ns = 0;
    ic__place_replicas_seen(&P, &u, 2, delay, AT(order), late);
    cr_assert_eq(u.calm_since_ns, 0);
}
