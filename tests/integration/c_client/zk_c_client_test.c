/*
 * Smoke test for a ZooKeeper-protocol server using the Apache ZooKeeper C
 * client (multi-threaded library, libzookeeper_mt).
 *
 *   usage: zk_c_client_test HOST:PORT [ROOT_PATH]
 *
 * Exercises: connect, create/get/set/delete, getChildren(2), ephemeral and
 * sequential nodes, exists/get watches (data + child), multi, add_auth +
 * digest ACL, and session close (ephemeral removal seen from a second handle).
 * Exits 0 on success; on failure prints "FAIL: ..." and exits 1.
 *
 * Build: cc -o zk_c_client_test zk_c_client_test.c -lzookeeper_mt
 */
#include <errno.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

/* the synchronous API is only declared for the multi-threaded library */
#ifndef THREADED
#define THREADED
#endif
#include <zookeeper/zookeeper.h>

static const char *g_step = "start";

static void fail(const char *fmt, ...) {
    va_list ap;
    va_start(ap, fmt);
    fprintf(stderr, "FAIL [%s]: ", g_step);
    vfprintf(stderr, fmt, ap);
    fprintf(stderr, "\n");
    va_end(ap);
    exit(1);
}

#define CHECK_RC(expr, expected)                                               \
    do {                                                                       \
        int rc_ = (expr);                                                      \
        if (rc_ != (expected))                                                 \
            fail("%s returned %d (%s), expected %d (%s)", #expr, rc_,           \
                 zerror(rc_), (expected), zerror(expected));                   \
    } while (0)

/* ---------------------------------------------------------------- events */

struct event_log {
    pthread_mutex_t mu;
    pthread_cond_t cv;
    int connected;
    int expired;
    int n;
    int types[64];
    char paths[64][256];
};

static void log_init(struct event_log *l) {
    memset(l, 0, sizeof(*l));
    pthread_mutex_init(&l->mu, NULL);
    pthread_cond_init(&l->cv, NULL);
}

static void watcher(zhandle_t *zh, int type, int state, const char *path, void *ctx) {
    (void)zh;
    struct event_log *l = (struct event_log *)ctx;
    if (!l) return;
    pthread_mutex_lock(&l->mu);
    if (type == ZOO_SESSION_EVENT) {
        if (state == ZOO_CONNECTED_STATE) l->connected = 1;
        else if (state == ZOO_EXPIRED_SESSION_STATE) l->expired = 1;
        else if (state == ZOO_CONNECTING_STATE) l->connected = 0;
    } else if (l->n < 64) {
        l->types[l->n] = type;
        snprintf(l->paths[l->n], sizeof(l->paths[0]), "%s", path ? path : "");
        l->n++;
    }
    pthread_cond_broadcast(&l->cv);
    pthread_mutex_unlock(&l->mu);
}

static void deadline_in(struct timespec *ts, int ms) {
    clock_gettime(CLOCK_REALTIME, ts);
    ts->tv_sec += ms / 1000;
    ts->tv_nsec += (long)(ms % 1000) * 1000000L;
    if (ts->tv_nsec >= 1000000000L) {
        ts->tv_sec += 1;
        ts->tv_nsec -= 1000000000L;
    }
}

static int wait_connected(struct event_log *l, int ms) {
    struct timespec ts;
    deadline_in(&ts, ms);
    pthread_mutex_lock(&l->mu);
    while (!l->connected) {
        if (pthread_cond_timedwait(&l->cv, &l->mu, &ts) == ETIMEDOUT) break;
    }
    int c = l->connected;
    pthread_mutex_unlock(&l->mu);
    return c;
}

/* wait until at least n node events have been logged */
static int wait_events(struct event_log *l, int n, int ms) {
    struct timespec ts;
    deadline_in(&ts, ms);
    pthread_mutex_lock(&l->mu);
    while (l->n < n) {
        if (pthread_cond_timedwait(&l->cv, &l->mu, &ts) == ETIMEDOUT) break;
    }
    int got = l->n;
    pthread_mutex_unlock(&l->mu);
    return got;
}

static int has_event(struct event_log *l, int type, const char *path) {
    int found = 0;
    pthread_mutex_lock(&l->mu);
    for (int i = 0; i < l->n; i++)
        if (l->types[i] == type && strcmp(l->paths[i], path) == 0) found = 1;
    pthread_mutex_unlock(&l->mu);
    return found;
}

static const char *type_name(int t) {
    if (t == ZOO_CREATED_EVENT) return "CREATED";
    if (t == ZOO_DELETED_EVENT) return "DELETED";
    if (t == ZOO_CHANGED_EVENT) return "CHANGED";
    if (t == ZOO_CHILD_EVENT) return "CHILD";
    if (t == ZOO_SESSION_EVENT) return "SESSION";
    return "?";
}

static void dump_events(struct event_log *l) {
    pthread_mutex_lock(&l->mu);
    for (int i = 0; i < l->n; i++)
        fprintf(stderr, "  event %d: %s %s\n", i, type_name(l->types[i]), l->paths[i]);
    pthread_mutex_unlock(&l->mu);
}

static zhandle_t *connect_or_die(const char *hosts, struct event_log *l) {
    zhandle_t *zh = zookeeper_init(hosts, watcher, 10000, NULL, l, 0);
    if (!zh) fail("zookeeper_init(%s) failed: %s", hosts, strerror(errno));
    if (!wait_connected(l, 15000)) fail("not connected to %s within 15s", hosts);
    return zh;
}

static int contains(const struct String_vector *v, const char *name) {
    for (int i = 0; i < v->count; i++)
        if (strcmp(v->data[i], name) == 0) return 1;
    return 0;
}

int main(int argc, char **argv) {
    if (argc < 2) {
        fprintf(stderr, "usage: %s HOST:PORT [ROOT]\n", argv[0]);
        return 2;
    }
    const char *hosts = argv[1];
    char root[200];
    if (argc > 2) snprintf(root, sizeof root, "%s", argv[2]);
    else snprintf(root, sizeof root, "/c_client_test_%d", (int)getpid());
    char path[512], buf[1024];
    int len;
    struct Stat st;

    zoo_set_debug_level(ZOO_LOG_LEVEL_WARN);

    struct event_log ev1, ev2;
    log_init(&ev1);
    log_init(&ev2);

    g_step = "connect";
    zhandle_t *zh = connect_or_die(hosts, &ev1);
    const clientid_t *cid = zoo_client_id(zh);
    printf("connected: session 0x%llx timeout %d\n", (unsigned long long)cid->client_id,
           zoo_recv_timeout(zh));
    if (cid->client_id == 0) fail("session id is 0");

    g_step = "create root";
    CHECK_RC(zoo_create(zh, root, "root", 4, &ZOO_OPEN_ACL_UNSAFE, 0, path, sizeof path), ZOK);
    if (strcmp(path, root) != 0) fail("created path %s != %s", path, root);
    CHECK_RC(zoo_create(zh, root, "x", 1, &ZOO_OPEN_ACL_UNSAFE, 0, NULL, 0), ZNODEEXISTS);

    g_step = "get";
    len = sizeof buf;
    CHECK_RC(zoo_get(zh, root, 0, buf, &len, &st), ZOK);
    if (len != 4 || memcmp(buf, "root", 4) != 0) fail("get returned %d bytes '%.*s'", len, len, buf);
    if (st.version != 0 || st.dataLength != 4 || st.numChildren != 0)
        fail("bad stat: version %d dataLength %d numChildren %d", st.version, st.dataLength,
             st.numChildren);
    if (st.czxid != st.mzxid) fail("czxid %lld != mzxid %lld", (long long)st.czxid, (long long)st.mzxid);

    g_step = "set";
    CHECK_RC(zoo_set(zh, root, "v1", 2, 0), ZOK);
    CHECK_RC(zoo_set(zh, root, "v2", 2, 0), ZBADVERSION);
    struct Stat st2;
    CHECK_RC(zoo_set2(zh, root, "v2", 2, 1, &st2), ZOK);
    if (st2.version != 2) fail("version after two sets is %d", st2.version);
    len = sizeof buf;
    CHECK_RC(zoo_get(zh, root, 0, buf, &len, &st), ZOK);
    if (len != 2 || memcmp(buf, "v2", 2) != 0) fail("get after set returned '%.*s'", len, buf);

    g_step = "children";
    snprintf(path, sizeof path, "%s/a", root);
    CHECK_RC(zoo_create(zh, path, "", 0, &ZOO_OPEN_ACL_UNSAFE, 0, NULL, 0), ZOK);
    snprintf(path, sizeof path, "%s/b", root);
    CHECK_RC(zoo_create(zh, path, NULL, -1, &ZOO_OPEN_ACL_UNSAFE, 0, NULL, 0), ZOK);
    struct String_vector kids;
    CHECK_RC(zoo_get_children2(zh, root, 0, &kids, &st), ZOK);
    if (kids.count != 2 || !contains(&kids, "a") || !contains(&kids, "b"))
        fail("children of %s: count %d", root, kids.count);
    if (st.numChildren != 2 || st.cversion != 2) fail("numChildren %d cversion %d", st.numChildren, st.cversion);
    deallocate_String_vector(&kids);

    g_step = "ephemeral + sequential";
    char eph[512], seq[512];
    snprintf(path, sizeof path, "%s/eph", root);
    CHECK_RC(zoo_create(zh, path, "e", 1, &ZOO_OPEN_ACL_UNSAFE, ZOO_EPHEMERAL, eph, sizeof eph), ZOK);
    CHECK_RC(zoo_exists(zh, eph, 0, &st), ZOK);
    if ((unsigned long long)st.ephemeralOwner != (unsigned long long)cid->client_id)
        fail("ephemeralOwner 0x%llx != session 0x%llx", (unsigned long long)st.ephemeralOwner,
             (unsigned long long)cid->client_id);
    snprintf(path, sizeof path, "%s/eph/child", root);
    CHECK_RC(zoo_create(zh, path, "", 0, &ZOO_OPEN_ACL_UNSAFE, 0, NULL, 0), ZNOCHILDRENFOREPHEMERALS);
    snprintf(path, sizeof path, "%s/seq-", root);
    CHECK_RC(zoo_create(zh, path, "s", 1, &ZOO_OPEN_ACL_UNSAFE, ZOO_SEQUENCE, seq, sizeof seq), ZOK);
    char expect[512];
    snprintf(expect, sizeof expect, "%s/seq-%010d", root, 3); /* cversion 3 before this create */
    if (strcmp(seq, expect) != 0) fail("sequential path %s, expected %s", seq, expect);
    CHECK_RC(zoo_create(zh, path, "s", 1, &ZOO_OPEN_ACL_UNSAFE, ZOO_EPHEMERAL | ZOO_SEQUENCE, seq, sizeof seq), ZOK);
    snprintf(expect, sizeof expect, "%s/seq-%010d", root, 4);
    if (strcmp(seq, expect) != 0) fail("ephemeral sequential path %s, expected %s", seq, expect);

    g_step = "watches";
    snprintf(path, sizeof path, "%s/a", root);
    len = sizeof buf;
    CHECK_RC(zoo_wget(zh, path, watcher, &ev1, buf, &len, &st), ZOK);
    snprintf(path, sizeof path, "%s/w", root);
    CHECK_RC(zoo_wexists(zh, path, watcher, &ev1, &st), ZNONODE);
    CHECK_RC(zoo_wget_children(zh, root, watcher, &ev1, &kids), ZOK);
    deallocate_String_vector(&kids);

    zhandle_t *zh2 = connect_or_die(hosts, &ev2);
    snprintf(path, sizeof path, "%s/a", root);
    CHECK_RC(zoo_set(zh2, path, "changed", 7, -1), ZOK);
    snprintf(path, sizeof path, "%s/w", root);
    CHECK_RC(zoo_create(zh2, path, "", 0, &ZOO_OPEN_ACL_UNSAFE, 0, NULL, 0), ZOK);
    if (wait_events(&ev1, 3, 10000) < 3) {
        dump_events(&ev1);
        fail("expected 3 watch events, got %d", ev1.n);
    }
    snprintf(path, sizeof path, "%s/a", root);
    if (!has_event(&ev1, ZOO_CHANGED_EVENT, path)) { dump_events(&ev1); fail("no CHANGED for %s", path); }
    snprintf(path, sizeof path, "%s/w", root);
    if (!has_event(&ev1, ZOO_CREATED_EVENT, path)) { dump_events(&ev1); fail("no CREATED for %s", path); }
    if (!has_event(&ev1, ZOO_CHILD_EVENT, root)) { dump_events(&ev1); fail("no CHILD for %s", root); }

    g_step = "multi";
    zoo_op_t ops[3];
    zoo_op_result_t results[3];
    char p1[512], p2[512], created[512];
    snprintf(p1, sizeof p1, "%s/m1", root);
    snprintf(p2, sizeof p2, "%s/a", root);
    zoo_create_op_init(&ops[0], p1, "m", 1, &ZOO_OPEN_ACL_UNSAFE, 0, created, sizeof created);
    zoo_set_op_init(&ops[1], p2, "mm", 2, -1, NULL);
    zoo_check_op_init(&ops[2], p2, 2);
    CHECK_RC(zoo_multi(zh, 3, ops, results), ZOK);
    CHECK_RC(zoo_exists(zh, p1, 0, &st), ZOK);
    zoo_create_op_init(&ops[0], p1, "m", 1, &ZOO_OPEN_ACL_UNSAFE, 0, NULL, 0); /* exists */
    zoo_delete_op_init(&ops[1], p2, -1);
    int rc = zoo_multi(zh, 2, ops, results);
    if (rc != ZNODEEXISTS) fail("failing multi returned %d (%s), expected ZNODEEXISTS", rc, zerror(rc));
    if (results[0].err != ZNODEEXISTS || results[1].err != ZRUNTIMEINCONSISTENCY)
        fail("failing multi per-op errors %d, %d", results[0].err, results[1].err);
    CHECK_RC(zoo_exists(zh, p2, 0, &st), ZOK); /* not deleted */

    g_step = "auth + acl";
    snprintf(path, sizeof path, "%s/secret", root);
    CHECK_RC(zoo_add_auth(zh, "digest", "cuser:cpass", 11, NULL, NULL), ZOK);
    /* "auth" ACL: expands server-side to digest:cuser:<base64 sha1> */
    struct ACL creator = {ZOO_PERM_ALL, {"auth", ""}};
    struct ACL_vector creator_acl = {1, &creator};
    CHECK_RC(zoo_create(zh, path, "s", 1, &creator_acl, 0, NULL, 0), ZOK);
    len = sizeof buf;
    CHECK_RC(zoo_get(zh2, path, 0, buf, &len, &st), ZNOAUTH);
    len = sizeof buf;
    CHECK_RC(zoo_get(zh, path, 0, buf, &len, &st), ZOK);
    struct ACL_vector got_acl;
    CHECK_RC(zoo_get_acl(zh, path, &got_acl, &st), ZOK);
    if (got_acl.count != 1 || strcmp(got_acl.data[0].id.scheme, "digest") != 0 ||
        strncmp(got_acl.data[0].id.id, "cuser:", 6) != 0)
        fail("unexpected ACL after create with auth scheme");
    deallocate_ACL_vector(&got_acl);
    CHECK_RC(zoo_delete(zh, path, -1), ZOK);

    g_step = "delete";
    snprintf(path, sizeof path, "%s/b", root);
    CHECK_RC(zoo_delete(zh, path, 5), ZBADVERSION);
    CHECK_RC(zoo_delete(zh, path, 0), ZOK);
    CHECK_RC(zoo_delete(zh, path, -1), ZNONODE);
    CHECK_RC(zoo_delete(zh, root, -1), ZNOTEMPTY);

    g_step = "close session removes ephemerals";
    CHECK_RC(zoo_wexists(zh2, eph, watcher, &ev2, &st), ZOK);
    int before = ev2.n;
    CHECK_RC(zookeeper_close(zh), ZOK);
    if (wait_events(&ev2, before + 1, 10000) < before + 1) fail("no event after owner closed session");
    if (!has_event(&ev2, ZOO_DELETED_EVENT, eph)) { dump_events(&ev2); fail("no DELETED for %s", eph); }
    CHECK_RC(zoo_exists(zh2, eph, 0, &st), ZNONODE);
    CHECK_RC(zoo_exists(zh2, seq, 0, &st), ZNONODE);

    g_step = "cleanup";
    CHECK_RC(zoo_get_children(zh2, root, 0, &kids), ZOK);
    for (int i = 0; i < kids.count; i++) {
        snprintf(path, sizeof path, "%s/%s", root, kids.data[i]);
        CHECK_RC(zoo_delete(zh2, path, -1), ZOK);
    }
    deallocate_String_vector(&kids);
    CHECK_RC(zoo_delete(zh2, root, -1), ZOK);
    CHECK_RC(zookeeper_close(zh2), ZOK);

    printf("OK: all C client checks passed against %s (root %s)\n", hosts, root);
    return 0;
}
