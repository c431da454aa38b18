// A Curator InterProcessMutex contender for the fault runner (tests/faults/runner.py), run with the
// JDK's source launcher against Debian's Curator 5 jars:
//
//   java CuratorLock.java CONNECT NAME LOCK_PATH FENCED_PATH
//
// Until stdin closes it takes the lock (3 s timeout), makes one to three fenced writes while it
// holds it (a transaction: check of its own lock znode, then setData of FENCED_PATH), and releases
// it. Every operation is one JSON line on stdout, in the runner's history form:
//   {"f": "acquire"|"fenced"|"release", "type": "ok"|"fail"|"info", "value": ..., "expect": ...,
//    "result": ..., "invoke": s, "complete": s}
// with times in seconds on the monotonic clock (System.nanoTime: CLOCK_MONOTONIC, as Python's
// time.monotonic). A fenced write's result names the lock znode (its "session"), the znode's
// sequence number (the fencing token, one per acquisition) and the write's mzxid, so the
// runner's lock check applies as to the kazoo and Consul locks.
import java.io.BufferedReader;
import java.io.InputStreamReader;
import java.util.List;
import java.util.Random;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicBoolean;

import org.apache.curator.framework.CuratorFramework;
import org.apache.curator.framework.CuratorFrameworkFactory;
import org.apache.curator.framework.api.transaction.CuratorTransactionResult;
import org.apache.curator.framework.recipes.locks.InterProcessMutex;
import org.apache.curator.retry.ExponentialBackoffRetry;

public class CuratorLock {
  // The lock znode this contender holds, which the recipe keeps to itself.
  static class Mutex extends InterProcessMutex {
    Mutex(CuratorFramework client, String path) { super(client, path); }
    String ownPath() { return getLockPath(); }
  }

  static double now() { return System.nanoTime() / 1e9; }

  static String quote(String s) {
    return s == null ? "null" : "\"" + s.replace("\\", "\\\\").replace("\"", "\\\"") + "\"";
  }

  static synchronized void emit(String f, String type, String value, String expect, String result, double invoke) {
    System.out.println("{\"f\": " + quote(f) + ", \"type\": " + quote(type) + ", \"value\": " + quote(value)
        + ", \"expect\": " + quote(expect) + ", \"result\": " + (result == null ? "null" : result)
        + ", \"invoke\": " + invoke + ", \"complete\": " + now() + "}");
    System.out.flush();
  }

  public static void main(String[] args) throws Exception {
    String connect = args[0], name = args[1], lockPath = args[2], fencedPath = args[3];
    AtomicBoolean stop = new AtomicBoolean(false);
    Thread watcher = new Thread(() -> {
      try {
        BufferedReader in = new BufferedReader(new InputStreamReader(System.in));
        while (in.readLine() != null) {
        }
      } catch (Exception e) {
        // stdin gone: stop as well
      }
      stop.set(true);
    });
    watcher.setDaemon(true);
    watcher.start();
    CuratorFramework client = CuratorFrameworkFactory.newClient(connect, 4000, 3000, new ExponentialBackoffRetry(50, 5, 500));
    client.start();
    client.blockUntilConnected(15, TimeUnit.SECONDS);
    Mutex mutex = new Mutex(client, lockPath);
    Random rng = new Random(name.hashCode());
    int n = 0;
    System.out.println("{\"ready\": true}");
    System.out.flush();
    while (!stop.get()) {
      double t0 = now();
      boolean held;
      try {
        held = mutex.acquire(3, TimeUnit.SECONDS);
        emit("acquire", "ok", null, null, held ? "true" : "false", t0);
      } catch (Exception e) {
        emit("acquire", "info", null, null, null, t0);
        Thread.sleep(100);
        continue;
      }
      if (!held) continue;
      String node = mutex.ownPath();
      String znode = node.substring(node.lastIndexOf('/') + 1);
      long token = Long.parseLong(znode.substring(znode.length() - 10));
      int writes = 1 + rng.nextInt(3);
      for (int k = 0; k < writes; k++) {
        n++;
        String value = name + "-" + n;
        double t1 = now();
        try {
          List<CuratorTransactionResult> results = client.transaction().forOperations(
              client.transactionOp().check().forPath(node),
              client.transactionOp().setData().forPath(fencedPath, value.getBytes("UTF-8")));
          long mzxid = results.get(1).getResultStat().getMzxid();
          emit("fenced", "ok", value, znode, "{\"session\": " + quote(znode) + ", \"lock_index\": " + token
              + ", \"modify_index\": " + mzxid + "}", t1);
        } catch (org.apache.zookeeper.KeeperException.NoNodeException e) {
          emit("fenced", "fail", value, znode, null, t1);  // the lock znode is gone: no longer the holder
          break;
        } catch (Exception e) {
          emit("fenced", "info", value, znode, null, t1);
          break;
        }
        Thread.sleep(rng.nextInt(30));
      }
      double t2 = now();
      try {
        mutex.release();
        emit("release", "ok", null, null, "null", t2);
      } catch (Exception e) {
        emit("release", "info", null, null, null, t2);
      }
    }
    client.close();
  }
}
