import java.io.BufferedReader;
import java.io.InputStreamReader;
import java.nio.charset.StandardCharsets;
import java.util.HashMap;
import java.util.Map;
import java.util.concurrent.TimeUnit;
import org.apache.curator.framework.CuratorFramework;
import org.apache.curator.framework.CuratorFrameworkFactory;
import org.apache.curator.framework.recipes.leader.LeaderLatch;
import org.apache.curator.framework.recipes.leader.LeaderLatchListener;
import org.apache.curator.framework.recipes.locks.InterProcessMutex;
import org.apache.curator.framework.recipes.locks.InterProcessSemaphoreV2;
import org.apache.curator.framework.recipes.locks.Lease;
import org.apache.curator.retry.RetryNTimes;

/**
 * A Curator participant for lockd's interop tests, driven by line commands on stdin; it reports on
 * stdout, one event per line.
 *
 * Usage: java CuratorPeer CONNECT SESSION_TIMEOUT_MS
 *
 * Commands:          Events:
 *   join PATH ID       joined, then leader (when it leads)
 *   leave              not-leader (printed BEFORE the latch deletes its node), left
 *   lock PATH MS       locked | lock-timeout
 *   unlock             unlocked
 *   seat-acquire PATH MAX MS
 *                      seat-acquired | seat-timeout (an InterProcessSemaphoreV2 lease of PATH,
 *                      maxLeases MAX; one per PATH; the peer reads no command while it waits)
 *   seat-release PATH  seat-released
 *   quit               bye
 * Also: ready (connected), state NAME (connection state changes), error MESSAGE.
 */
public final class CuratorPeer {
  private static synchronized void say(String line) {
    System.out.println(line);
    System.out.flush();
  }

  public static void main(String[] args) throws Exception {
    int sessionMs = Integer.parseInt(args[1]);
    CuratorFramework client = CuratorFrameworkFactory.builder()
        .connectString(args[0])
        .sessionTimeoutMs(sessionMs)
        .connectionTimeoutMs(sessionMs)
        .retryPolicy(new RetryNTimes(50, 100))
        .build();
    client.getConnectionStateListenable().addListener((c, state) -> say("state " + state));
    client.start();
    if (!client.blockUntilConnected(20, TimeUnit.SECONDS)) {
      say("error not connected");
      System.exit(1);
    }
    say("ready");

    LeaderLatch latch = null;
    InterProcessMutex mutex = null;
    Map<String, Lease> seats = new HashMap<>();
    BufferedReader in = new BufferedReader(new InputStreamReader(System.in, StandardCharsets.UTF_8));
    for (String line = in.readLine(); line != null; line = in.readLine()) {
      String[] words = line.trim().split(" ");
      try {
        switch (words[0]) {
          case "join":
            latch = new LeaderLatch(client, words[1], words[2]);
            latch.addListener(new LeaderLatchListener() {
              @Override
              public void isLeader() {
                say("leader");
              }

              @Override
              public void notLeader() {
                say("not-leader");
              }
            });
            latch.start();
            say("joined");
            break;
          case "leave":
            // close() deletes the node before it drops leadership; announce the step-down first.
            say("not-leader");
            latch.close();
            latch = null;
            say("left");
            break;
          case "lock":
            mutex = new InterProcessMutex(client, words[1]);
            say(mutex.acquire(Long.parseLong(words[2]), TimeUnit.MILLISECONDS) ? "locked" : "lock-timeout");
            break;
          case "unlock":
            mutex.release();
            mutex = null;
            say("unlocked");
            break;
          case "seat-acquire": {
            InterProcessSemaphoreV2 semaphore = new InterProcessSemaphoreV2(client, words[1], Integer.parseInt(words[2]));
            Lease lease = semaphore.acquire(Long.parseLong(words[3]), TimeUnit.MILLISECONDS);
            if (lease != null) seats.put(words[1], lease);
            say(lease != null ? "seat-acquired" : "seat-timeout");
            break;
          }
          case "seat-release":
            seats.remove(words[1]).close();
            say("seat-released");
            break;
          case "quit":
            if (latch != null) latch.close();
            client.close();
            say("bye");
            return;
          default:
            say("error unknown command " + words[0]);
        }
      } catch (Exception e) {
        say("error " + e);
      }
    }
    client.close();
  }
}
