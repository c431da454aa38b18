#!/usr/bin/env node
// Drives Conclave's Consul HTTP API (KV, sessions, locks, blocking queries,
// txn, agent services and checks, health, catalog, events) with the real npm
// `consul` client (node-consul), pinned in package-lock.json.
//
// Usage: node consul_client_test.js <http-port>   (or CONSUL_HTTP_PORT=<port>)
//
// It prints one line per check ("ok - ..." or "FAIL - ...") and a closing
// "N passed, N failed" line, and exits 0 only if every check passed. Every
// request has a client-side timeout, every check has its own deadline and the
// whole run has a watchdog, so it can never hang.
"use strict";

const assert = require("node:assert/strict");
const { EventEmitter } = require("node:events");
const crypto = require("node:crypto");

const Consul = require("consul");

const REQUEST_TIMEOUT_MS = 10000; // default for every request
const CHECK_TIMEOUT_MS = 25000; // per check
const RUN_TIMEOUT_MS = 100000; // whole run (pytest allows 120 s)

const portArg = process.argv[2] || process.env.CONSUL_HTTP_PORT;
const port = Number(portArg);
if (!portArg || !Number.isInteger(port) || port <= 0 || port > 65535) {
  console.error(
    "usage: node consul_client_test.js <http-port>  (or set CONSUL_HTTP_PORT); got %j",
    portArg,
  );
  process.exit(2);
}

const watchdog = setTimeout(() => {
  console.error(`FAIL - watchdog: the run took longer than ${RUN_TIMEOUT_MS} ms`);
  process.exit(3);
}, RUN_TIMEOUT_MS);

const consul = new Consul({ host: "127.0.0.1", port, timeout: REQUEST_TIMEOUT_MS });
const PREFIX = `npm-consul-${Date.now()}-${crypto.randomBytes(3).toString("hex")}/`;
const sessions = new Set(); // created sessions, destroyed at the end

const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

// Call with a fresh ctx that asks node-consul for [response, data].
async function withResponse(fn, opts) {
  const ctx = new EventEmitter();
  ctx.includeResponse = true;
  const [res, data] = await fn({ ...opts, ctx });
  return { res, data };
}

// The Consul API answers a KV PUT/DELETE with a JSON `true` or `false` body.
// node-consul 2.0.1 resolves a `false` body as `undefined` (papi's pipeline
// does `if (!value && maybeValue) value = maybeValue`, which drops a falsy
// result), so boolean outcomes are read from the decoded response body via
// ctx.includeResponse instead of from the promise's value.
async function boolBody(fn, opts) {
  const { res, data } = await withResponse(fn, opts);
  assert.equal(res.statusCode, 200, "HTTP status");
  assert.match(String(res.headers["content-type"]), /^application\/json/, "content-type of a KV write answer");
  assert.equal(typeof data, "boolean", `KV write answered ${JSON.stringify(data)}, not true/false`);
  return data;
}
const kvSet = (key, value, opts = {}) => boolBody((o) => consul.kv.set({ key, value, ...o }), opts);
const kvDel = (opts) => boolBody((o) => consul.kv.del(o), opts);

function consulIndex(res) {
  const meta = Consul.parseQueryMeta(res);
  assert.ok(meta.LastIndex, `no X-Consul-Index header in response (headers: ${JSON.stringify(res.headers)})`);
  assert.match(String(meta.LastIndex), /^[1-9][0-9]*$/, "X-Consul-Index is not a positive integer");
  return meta.LastIndex;
}

// Expect the promise to reject with an HTTP error of the given status.
async function expectStatus(promise, status, what) {
  let err;
  try {
    const r = await promise;
    assert.fail(`${what}: expected HTTP ${status}, but the call succeeded with ${JSON.stringify(r)}`);
  } catch (e) {
    err = e;
  }
  if (err instanceof assert.AssertionError) throw err;
  assert.ok(err.isResponse, `${what}: expected an HTTP ${status} response error, got ${err && err.stack}`);
  assert.equal(err.statusCode, status, `${what}: HTTP status (message: ${err.message})`);
  return err;
}

async function createSession(opts) {
  const r = await consul.session.create(opts);
  assert.ok(r && typeof r.ID === "string", `session.create returned ${JSON.stringify(r)}`);
  assert.match(r.ID, /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/, "session ID is not a UUID");
  sessions.add(r.ID);
  return r.ID;
}

async function destroySession(id) {
  await consul.session.destroy(id);
  sessions.delete(id);
}

const b64 = (s) => Buffer.from(s).toString("base64");

// ---------------------------------------------------------------------------
// checks: each uses its own sub-prefix, so one failure does not cascade

const checks = [];
const check = (name, fn) => checks.push({ name, fn });

check("kv.set/get with flags", async () => {
  const k = PREFIX + "flags/a";
  assert.equal(await consul.kv.set(k, "hello", { flags: 42 }), true, "kv.set result");
  const e = await consul.kv.get(k);
  assert.ok(e, "kv.get returned nothing for a key just set");
  assert.equal(e.Key, k);
  assert.equal(e.Value, "hello");
  assert.equal(e.Flags, 42);
  assert.equal(e.LockIndex, 0);
  assert.ok(Number.isInteger(e.CreateIndex) && e.CreateIndex > 0, "CreateIndex");
  assert.equal(e.ModifyIndex, e.CreateIndex, "ModifyIndex == CreateIndex on first write");
  assert.equal(await consul.kv.set({ key: k, value: "world" }), true);
  const e2 = await consul.kv.get(k);
  assert.equal(e2.Value, "world");
  assert.equal(e2.Flags, 0, "a write without flags resets Flags to 0");
  assert.equal(e2.CreateIndex, e.CreateIndex);
  assert.ok(e2.ModifyIndex > e.ModifyIndex, "ModifyIndex grows on update");
  const raw = await consul.kv.get({ key: k, raw: true });
  assert.ok(Buffer.isBuffer(raw) && raw.toString() === "world", `raw get returned ${JSON.stringify(raw)}`);
  assert.equal(await consul.kv.get(PREFIX + "flags/missing"), undefined, "missing key is undefined (404)");
});

check("kv.get recurse", async () => {
  const p = PREFIX + "rec/";
  for (const [k, v] of [["b", "2"], ["a", "1"], ["sub/c", "3"]]) {
    assert.equal(await consul.kv.set(p + k, v), true);
  }
  await consul.kv.set(PREFIX + "rec-sibling", "not under rec/");
  const all = await consul.kv.get({ key: p, recurse: true });
  assert.ok(Array.isArray(all), `recurse result is not an array: ${JSON.stringify(all)}`);
  assert.deepEqual(all.map((e) => [e.Key, e.Value]), [[p + "a", "1"], [p + "b", "2"], [p + "sub/c", "3"]]);
  assert.equal(await consul.kv.get({ key: PREFIX + "rec-none/", recurse: true }), undefined);
});

check("kv.keys with and without separator", async () => {
  const p = PREFIX + "keys/";
  for (const k of ["x", "dir/y", "dir/z", "dir/deep/w"]) await consul.kv.set(p + k, "v");
  assert.deepEqual(await consul.kv.keys(p), [p + "dir/deep/w", p + "dir/y", p + "dir/z", p + "x"]);
  assert.deepEqual(await consul.kv.keys({ key: p, separator: "/" }), [p + "dir/", p + "x"]);
  assert.deepEqual(await consul.kv.keys({ key: p + "dir/", separator: "/" }), [p + "dir/deep/", p + "dir/y", p + "dir/z"]);
  await expectStatus(consul.kv.keys(PREFIX + "keys-none/"), 404, "kv.keys on an empty prefix");
});

check("kv.set cas success and failure", async () => {
  const k = PREFIX + "cas/k";
  assert.equal(await kvSet(k, "new", { cas: 0 }), true, "cas=0 creates an absent key");
  assert.equal(await kvSet(k, "again", { cas: 0 }), false, "cas=0 refuses an existing key");
  const e = await consul.kv.get(k);
  assert.equal(e.Value, "new");
  assert.equal(await kvSet(k, "v2", { cas: String(e.ModifyIndex) }), true, "cas with current index");
  assert.equal(await kvSet(k, "v3", { cas: String(e.ModifyIndex) }), false, "cas with stale index");
  const e2 = await consul.kv.get(k);
  assert.equal(e2.Value, "v2", "failed cas left the value alone");
  assert.ok(e2.ModifyIndex > e.ModifyIndex);
});

check("kv.del, del cas and recursive delete", async () => {
  const p = PREFIX + "del/";
  for (const k of ["one", "tree/a", "tree/b", "tree/c/d", "treetop"]) await consul.kv.set(p + k, "v");
  assert.equal(await kvDel({ key: p + "one" }), true, "kv.del result");
  assert.equal(await consul.kv.get(p + "one"), undefined, "deleted key is gone");
  assert.equal(await kvDel({ key: p + "never-existed" }), true, "deleting a missing key is not an error");
  const e = await consul.kv.get(p + "treetop");
  assert.equal(await kvDel({ key: p + "treetop", cas: String(e.ModifyIndex + 1000) }), false, "del with wrong cas");
  assert.ok(await consul.kv.get(p + "treetop"), "failed del cas kept the key");
  assert.equal(await kvDel({ key: p + "treetop", cas: String(e.ModifyIndex) }), true, "del with right cas");
  assert.equal(await consul.kv.get(p + "treetop"), undefined);
  await consul.kv.set(p + "treetop", "v");
  assert.equal(await kvDel({ key: p + "tree/", recurse: true }), true, "recursive del result");
  const left = await consul.kv.get({ key: p, recurse: true });
  assert.deepEqual((left || []).map((x) => x.Key), [p + "treetop"], "only the tree/ keys were removed");
});

check("session create/info/list/node/renew/destroy", async () => {
  const name = "npm-" + PREFIX.slice(0, -1);
  const id = await createSession({ name, ttl: "30s", lockdelay: "3s" });
  const info = await consul.session.info(id);
  assert.ok(info, "session.info returned nothing");
  assert.equal(info.ID, id);
  assert.equal(info.Name, name);
  assert.equal(info.TTL, "30s");
  assert.equal(info.LockDelay, 3e9, "LockDelay is reported in nanoseconds");
  assert.equal(info.Behavior, "release");
  const me = (await consul.agent.self()).Config.NodeName;  // the node asked (a follower on a cluster)
  assert.equal(info.Node, me);
  assert.ok(Number.isInteger(info.CreateIndex) && info.CreateIndex > 0, "CreateIndex");
  const listed = await consul.session.list();
  assert.ok(Array.isArray(listed) && listed.some((s) => s.ID === id), "session.list includes the new session");
  const onNode = await consul.session.node(me);
  assert.ok(Array.isArray(onNode) && onNode.some((s) => s.ID === id), `session.node('${me}') includes it`);
  const renewed = await consul.session.renew(id);
  assert.ok(Array.isArray(renewed) && renewed.length === 1, `session.renew returned ${JSON.stringify(renewed)}`);
  assert.equal(renewed[0].ID, id);
  assert.equal(renewed[0].TTL, "30s");
  await destroySession(id);
  assert.equal(await consul.session.info(id), undefined, "info of a destroyed session is empty");
  const after = await consul.session.list();
  assert.ok(!after.some((s) => s.ID === id), "destroyed session no longer listed");
  await expectStatus(consul.session.renew(id), 404, "renew of a destroyed session");
});

check("acquire/release via kv.set, lock refused to another session", async () => {
  const k = PREFIX + "lock/leader";
  const s1 = await createSession({ name: "s1", lockdelay: "0s" });
  const s2 = await createSession({ name: "s2", lockdelay: "0s" });
  assert.equal(await kvSet(k, "s1 holds", { acquire: s1 }), true, "s1 acquires a free lock");
  let e = await consul.kv.get(k);
  assert.equal(e.Session, s1);
  assert.equal(e.LockIndex, 1);
  assert.equal(e.Value, "s1 holds");
  assert.equal(await kvSet(k, "s2 wants", { acquire: s2 }), false, "s2 is refused the lock held by s1");
  e = await consul.kv.get(k);
  assert.equal(e.Session, s1, "still held by s1");
  assert.equal(e.Value, "s1 holds", "refused acquire did not write");
  assert.equal(await kvSet(k, "s2 release", { release: s2 }), false, "s2 cannot release s1's lock");
  assert.equal(await kvSet(k, "s1 again", { acquire: s1 }), true, "holder may re-acquire");
  assert.equal((await consul.kv.get(k)).LockIndex, 1, "re-acquire keeps LockIndex");
  assert.equal(await kvSet(k, "released", { release: s1 }), true, "s1 releases");
  e = await consul.kv.get(k);
  assert.equal(e.Session, undefined, "no Session after release");
  assert.equal(e.Value, "released");
  assert.equal(await kvSet(k, "s2 holds", { acquire: s2 }), true, "s2 acquires after release");
  e = await consul.kv.get(k);
  assert.equal(e.Session, s2);
  assert.equal(e.LockIndex, 2);
  await destroySession(s2);
  e = await consul.kv.get(k);
  assert.equal(e.Session, undefined, "destroying the holder releases the lock (behavior release)");
  assert.equal(e.Value, "s2 holds", "release behavior keeps the key");
  await destroySession(s1);
});

check("lock-delay after invalidation", async () => {
  const k = PREFIX + "lockdelay/k";
  const holder = await createSession({ lockdelay: "2s" });
  const other = await createSession({ lockdelay: "0s" });
  assert.equal(await kvSet(k, "held", { acquire: holder }), true);
  await destroySession(holder);
  const t0 = Date.now();
  assert.equal(await kvSet(k, "mine", { acquire: other }), false, "acquire refused within the lock delay");
  let got = false;
  while (!got && Date.now() - t0 < 10000) {
    await sleep(200);
    got = await kvSet(k, "mine", { acquire: other });
  }
  assert.ok(got, "lock never became acquirable within 10 s of a 2 s lock delay");
  const waited = Date.now() - t0;
  assert.ok(waited >= 1000, `lock acquired after only ${waited} ms of a 2 s lock delay`);
  assert.equal((await consul.kv.get(k)).Session, other);
  await destroySession(other);
});

check("blocking kv.get woken by a later kv.set", async () => {
  const k = PREFIX + "block/k";
  await consul.kv.set(k, "before");
  const first = await withResponse((o) => consul.kv.get(o), { key: k });
  assert.equal(first.data.Value, "before");
  const index = consulIndex(first.res);
  assert.ok(Number(index) >= first.data.ModifyIndex, "X-Consul-Index >= the key's ModifyIndex");

  const t0 = Date.now();
  const writer = sleep(700).then(() => consul.kv.set(k, "after"));
  const woken = await withResponse((o) => consul.kv.get(o), { key: k, index, wait: "15s", timeout: 20000 });
  const elapsed = Date.now() - t0;
  assert.equal(await writer, true);
  assert.equal(woken.data.Value, "after", "blocking get returns the new value");
  assert.ok(elapsed >= 500, `blocking get returned after ${elapsed} ms, before the write at 700 ms`);
  assert.ok(elapsed < 10000, `blocking get took ${elapsed} ms: not woken by the write`);
  const newIndex = consulIndex(woken.res);
  assert.ok(BigInt(newIndex) > BigInt(index), `index did not advance: ${index} -> ${newIndex}`);
  assert.equal(String(woken.data.ModifyIndex), newIndex, "X-Consul-Index is the key's ModifyIndex");
});

check("blocking kv.get with no change returns after wait", async () => {
  const k = PREFIX + "block-idle/k";
  await consul.kv.set(k, "still");
  const first = await withResponse((o) => consul.kv.get(o), { key: k });
  const index = consulIndex(first.res);
  const t0 = Date.now();
  const r = await withResponse((o) => consul.kv.get(o), { key: k, index, wait: "1s", timeout: 8000 });
  const elapsed = Date.now() - t0;
  assert.ok(elapsed >= 900, `wait=1s returned after ${elapsed} ms`);
  assert.ok(elapsed < 6000, `wait=1s took ${elapsed} ms`);
  assert.equal(r.data.Value, "still");
  assert.equal(consulIndex(r.res), index, "index unchanged after an idle wait");
});

check("transaction.create (txn) success", async () => {
  const p = PREFIX + "txn/";
  await consul.kv.set(p + "gone", "x");
  const r = await consul.transaction.create([
    { KV: { Verb: "set", Key: p + "a", Value: b64("A"), Flags: 7 } },
    { KV: { Verb: "set", Key: p + "b", Value: b64("B") } },
    { KV: { Verb: "delete", Key: p + "gone" } },
    { KV: { Verb: "get", Key: p + "a" } },
  ]);
  assert.ok(r && Array.isArray(r.Results), `txn result: ${JSON.stringify(r)}`);
  assert.equal(r.Errors, null);
  assert.equal(r.Results.length, 3, "a delete has no result entry");
  assert.deepEqual(r.Results.map((x) => x.KV.Key), [p + "a", p + "b", p + "a"]);
  assert.equal(Buffer.from(r.Results[2].KV.Value, "base64").toString(), "A");
  assert.equal(r.Results[2].KV.Flags, 7);
  const idx = r.Results[0].KV.ModifyIndex;
  assert.equal((await consul.kv.get(p + "b")).Value, "B");
  assert.equal(await consul.kv.get(p + "gone"), undefined);
  const r2 = await consul.transaction.create([
    { KV: { Verb: "check-index", Key: p + "a", Index: idx } },
    { KV: { Verb: "cas", Key: p + "a", Value: b64("A2"), Index: idx } },
  ]);
  assert.equal(r2.Errors, null);
  assert.equal((await consul.kv.get(p + "a")).Value, "A2");
});

check("transaction.create (txn) failure rolls back", async () => {
  const p = PREFIX + "txn-fail/";
  await consul.kv.set(p + "keep", "orig");
  const err = await expectStatus(
    consul.transaction.create([
      { KV: { Verb: "set", Key: p + "keep", Value: b64("changed") } },
      { KV: { Verb: "set", Key: p + "new", Value: b64("x") } },
      { KV: { Verb: "cas", Key: p + "keep", Value: b64("y"), Index: 1 } },
    ]),
    409,
    "txn with a stale cas",
  );
  const body = err.response.body;
  assert.ok(body && Array.isArray(body.Errors), `409 body: ${JSON.stringify(body)}`);
  assert.equal(body.Results, null);
  assert.equal(body.Errors.length, 1);
  assert.equal(body.Errors[0].OpIndex, 2);
  assert.match(body.Errors[0].What, /index is stale/);
  assert.equal((await consul.kv.get(p + "keep")).Value, "orig", "failed txn changed nothing");
  assert.equal(await consul.kv.get(p + "new"), undefined, "failed txn created nothing");
});

check("agent service with a TTL check, health, catalog and DNS-free discovery", async () => {
  const name = `npm-svc-${crypto.randomBytes(3).toString("hex")}`;
  await consul.agent.service.register({
    name, id: `${name}-1`, address: "10.11.0.1", port: 7001, tags: ["npm"], meta: { lang: "js" },
    check: { ttl: "30s" },
  });
  try {
    const services = await consul.agent.service.list();
    assert.equal(services[`${name}-1`].Port, 7001);
    assert.deepEqual(services[`${name}-1`].Meta, { lang: "js" });
    let healthy = await consul.health.service({ service: name, passing: true });
    assert.equal(healthy.length, 0, "a new TTL check is critical");
    await consul.agent.check.pass({ id: `service:${name}-1`, note: "from npm" });
    healthy = await consul.health.service({ service: name, passing: true });
    assert.equal(healthy.length, 1);
    assert.equal(healthy[0].Service.Address, "10.11.0.1");
    const out = healthy[0].Checks.find((c) => c.CheckID === `service:${name}-1`);
    assert.equal(out.Output, "from npm");
    const rows = await consul.catalog.service.nodes({ service: name, tag: "npm" });
    assert.equal(rows.length, 1);
    assert.equal(rows[0].ServicePort, 7001);
    const all = await consul.catalog.service.list();
    assert.deepEqual(all[name], ["npm"]);
    await consul.agent.check.fail({ id: `service:${name}-1` });
    const crit = await consul.health.state("critical");
    assert.ok(crit.some((c) => c.CheckID === `service:${name}-1`), "health.state(critical) lists the failed check");
  } finally {
    await consul.agent.service.deregister(`${name}-1`);
  }
  assert.equal((await consul.catalog.service.nodes(name)).length, 0, "deregistered");
});

check("user events fire and list", async () => {
  const name = `npm-ev-${crypto.randomBytes(3).toString("hex")}`;
  const ev = await consul.event.fire(name, "hello");
  assert.equal(ev.Name, name);
  const list = await consul.event.list({ name });
  assert.equal(list.length, 1);
  assert.equal(list[0].ID, ev.ID);
  assert.equal(list[0].Payload, "hello", "node-consul decodes the payload");
});

// ---------------------------------------------------------------------------

function withDeadline(promise, ms, name) {
  let id;
  const t = new Promise((_, rej) => {
    id = setTimeout(() => rej(new Error(`check "${name}" did not finish within ${ms} ms`)), ms);
  });
  return Promise.race([promise, t]).finally(() => clearTimeout(id));
}

function describe(err) {
  if (err instanceof assert.AssertionError) {
    return err.message.split("\n").join("\n    ");
  }
  if (err && err.isResponse) {
    const res = err.response || {};
    const body = Buffer.isBuffer(res.body) ? res.body.toString() : JSON.stringify(res.body);
    return `HTTP ${err.statusCode} from ${res.req ? res.req.method + " " + res.req.path : "?"}: ${err.message} body=${body}`;
  }
  if (err && (err.isPapi || err.code)) {
    return `${err.name}: ${err.message}${err.code ? " (" + err.code + ")" : ""}`; // network / timeout
  }
  return (err && err.stack) || String(err);
}

async function main() {
  console.log(`node-consul ${require("consul/package.json").version} against 127.0.0.1:${port}, prefix ${PREFIX}`);
  let passed = 0;
  let failed = 0;
  for (const { name, fn } of checks) {
    try {
      await withDeadline(fn(), CHECK_TIMEOUT_MS, name);
      console.log(`ok - ${name}`);
      passed++;
    } catch (err) {
      console.log(`FAIL - ${name}: ${describe(err)}`);
      failed++;
    }
  }
  // best-effort cleanup, bounded by the request timeout
  for (const id of sessions) {
    await consul.session.destroy(id).catch(() => {});
  }
  await consul.kv.del({ key: PREFIX, recurse: true }).catch((e) => console.log(`cleanup failed: ${describe(e)}`));
  console.log(`${passed} passed, ${failed} failed`);
  return failed === 0 ? 0 : 1;
}

main()
  .catch((err) => {
    console.log(`FAIL - harness error: ${describe(err)}`);
    return 1;
  })
  .then((code) => {
    clearTimeout(watchdog);
    consul.destroy();
    process.exit(code);
  });
