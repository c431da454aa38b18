// Curator's ServiceDiscovery against a Conclave node, for tests/consul/test_shared_registry.py.
//
//   java CuratorRegistry.java CONNECT register NAME ADDRESS PORT ZONE
//       registers one instance (payload {"metadata": {"zone": ZONE}}), prints "registered <id>",
//       and keeps it until stdin closes; then unregisters and exits.
//   java CuratorRegistry.java CONNECT query NAME
//       prints one line per instance Curator's ServiceProvider sees:
//       "instance <id> <address> <port> <payload metadata as JSON>", then "done".
import java.io.BufferedReader;
import java.io.InputStreamReader;
import java.util.Collection;
import java.util.HashMap;
import java.util.Map;
import java.util.concurrent.TimeUnit;

import com.fasterxml.jackson.databind.ObjectMapper;
import org.apache.curator.framework.CuratorFramework;
import org.apache.curator.framework.CuratorFrameworkFactory;
import org.apache.curator.retry.RetryOneTime;
import org.apache.curator.x.discovery.ServiceDiscovery;
import org.apache.curator.x.discovery.ServiceDiscoveryBuilder;
import org.apache.curator.x.discovery.ServiceInstance;
import org.apache.curator.x.discovery.ServiceProvider;
import org.apache.curator.x.discovery.details.JsonInstanceSerializer;

public class CuratorRegistry {
  @SuppressWarnings({"unchecked", "rawtypes"})
  public static void main(String[] args) throws Exception {
    String connect = args[0];
    String mode = args[1];
    String name = args[2];
    CuratorFramework client = CuratorFrameworkFactory.newClient(connect, 10000, 5000, new RetryOneTime(500));
    client.start();
    if (!client.blockUntilConnected(15, TimeUnit.SECONDS)) throw new IllegalStateException("not connected");
    JsonInstanceSerializer<Map> serializer = new JsonInstanceSerializer<>(Map.class);
    ServiceDiscovery<Map> discovery = ServiceDiscoveryBuilder.builder(Map.class)
        .client(client).basePath("/services").serializer(serializer).build();
    discovery.start();
    if (mode.equals("register")) {
      Map<String, Object> payload = new HashMap<>();
      Map<String, String> metadata = new HashMap<>();
      metadata.put("zone", args[5]);
      payload.put("metadata", metadata);
      ServiceInstance<Map> instance = ServiceInstance.<Map>builder()
          .name(name).address(args[3]).port(Integer.parseInt(args[4])).payload(payload).build();
      discovery.registerService(instance);
      System.out.println("registered " + instance.getId());
      System.out.flush();
      BufferedReader in = new BufferedReader(new InputStreamReader(System.in));
      while (in.readLine() != null) {
      }
      discovery.unregisterService(instance);
    } else {
      ServiceProvider<Map> provider = discovery.serviceProviderBuilder().serviceName(name).build();
      provider.start();
      ObjectMapper mapper = new ObjectMapper();
      Collection<ServiceInstance<Map>> all = provider.getAllInstances();
      for (ServiceInstance<Map> i : all) {
        Object meta = i.getPayload() == null ? null : i.getPayload().get("metadata");
        System.out.println("instance " + i.getId() + " " + i.getAddress() + " " + i.getPort() + " "
            + mapper.writeValueAsString(meta));
      }
      System.out.println("done");
      provider.close();
    }
    discovery.close();
    client.close();
  }
}
