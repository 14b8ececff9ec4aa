package dev.weft.agent.policy;

import dev.weft.agent.node.NodeNetwork;
import dev.weft.agent.pipeline.Datapath;
import dev.weft.agent.pipeline.NetnsPod;
import dev.weft.agent.testing.OvsSandbox;
import dev.weft.proto.controlplane.v1.NetworkPolicy;
import dev.weft.proto.controlplane.v1.PolicyEvent;
import dev.weft.proto.controlplane.v1.PolicyType;
import dev.weft.proto.controlplane.v1.Protocol;
import io.grpc.ManagedChannel;
import io.grpc.ManagedChannelBuilder;
import io.grpc.Server;
import io.grpc.netty.NettyServerBuilder;
import io.micrometer.core.instrument.simple.SimpleMeterRegistry;
import org.junit.jupiter.api.Test;

import java.net.InetSocketAddress;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.List;
import java.util.concurrent.TimeUnit;

import static dev.weft.agent.policy.Events.*;
import static org.awaitility.Awaitility.await;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * The denied-connection log on real Open vSwitch: nginx-allow annotated weft.dev/log, pods in network namespaces. A
 * busybox pod floods nginx with new UDP connections (a new source port each) for a few seconds: what reaches the
 * log is bounded by the meter (rate x duration + burst, with a second's margin), is more than nothing, names the
 * policy, direction, pods, addresses and ports, and the metric counts exactly the logged lines. Allowed traffic is
 * not logged.
 */
class DeniedConnectionLogOvsTest {

    static final long RATE = 20;
    static final long BURST = 10;
    static final int FLOOD_SECONDS = 4;

    @Test
    void aFloodIsLoggedAtTheMetersRateWithItsFields() throws Exception {
        FakeControlPlane cp = new FakeControlPlane();
        Server server = NettyServerBuilder.forAddress(new InetSocketAddress("127.0.0.1", 0)).addService(cp).build().start();
        ManagedChannel channel = ManagedChannelBuilder.forAddress("127.0.0.1", server.getPort()).usePlaintext().build();
        Path dir = Files.createTempDirectory("weft-denied-log-");
        Path file = dir.resolve("np-denied.log");
        SimpleMeterRegistry registry = new SimpleMeterRegistry();
        try (OvsSandbox ovs = OvsSandbox.start();
             NetnsPod nginx = NetnsPod.create(ovs, "10.252.11.6/24", null, 6);
             NetnsPod nginx2 = NetnsPod.create(ovs, "10.252.11.7/24", null, 7);
             NetnsPod busybox = NetnsPod.create(ovs, "10.252.11.8/24", null, 8);
             DeniedConnectionLog log = new DeniedConnectionLog(file, 1 << 20, 2, registry)) {
            Datapath dp = PolicyOvsTest.datapath(ovs);
            PolicyController pc = new PolicyController("n1", channel, dp);
            pc.onDeniedConnection(log, RATE, BURST);
            Process udp = nginx.serve("udp", 53);
            try {
                await().atMost(Duration.ofSeconds(20)).until(dp::isReady);
                dp.nodeNetworkReady(new NodeNetwork("n1", List.of("10.252.11.0/24"), List.of("10.252.11.1"), null, "gw0", 0, ""));
                dp.podAdded(nginx.asInterface("default", "nginx-1"));
                dp.podAdded(nginx2.asInterface("default", "nginx-2"));
                dp.podAdded(busybox.asInterface("default", "busybox-1"));
                NetworkPolicy allow = policy("uid-nginx-allow", "default", "nginx-allow", 1, List.of("atg-nginx"),
                        List.of(PolicyType.INGRESS), ingressFrom(0, List.of("ag-nginx"), List.of(), port(Protocol.UDP, 53)))
                        .toBuilder().setLogDenied(true).build();
                cp.snapshot = List.of(
                        addressGroup("ag-nginx", member("default", "nginx-1", nginx.ip), member("default", "nginx-2", nginx2.ip)),
                        appliedToGroup("atg-nginx", member("default", "nginx-1", nginx.ip)),
                        policy(PolicyEvent.Type.ADDED, allow));
                pc.start();
                await().atMost(Duration.ofSeconds(20)).until(() -> pc.isSynced() && pc.realized());
                List<String> t100 = ovs.dumpFlows("table=100");
                assertTrue(t100.stream().anyMatch(l -> l.contains("priority=210") && l.contains("meter")
                        && l.contains("CONTROLLER:128")), "the log flow sits above the drop:\n" + String.join("\n", t100));

                assertTrue(nginx2.talk("udp", nginx.ip, 53), "nginx-2 -> nginx allowed");
                assertFalse(busybox.talk("udp", nginx.ip, 53), "busybox -> nginx denied");
                await().atMost(Duration.ofSeconds(5)).until(() -> Files.exists(file) && !Files.readAllLines(file).isEmpty());
                String first = Files.readAllLines(file).getFirst();
                System.out.println("first logged line: " + first);
                assertTrue(first.matches("\\d{4}-\\d\\d-\\d\\dT\\S+Z DENIED Ingress policy=default/nginx-allow proto=UDP "
                        + "src=default/busybox-1 10\\.252\\.11\\.8:\\d+ dst=default/nginx-1 10\\.252\\.11\\.6:53"), first);
                assertFalse(Files.readString(file).contains("nginx-2 10.252.11.7"), "allowed traffic is not logged");

                // The flood: new UDP connections as fast as one process can open them, for FLOOD_SECONDS.
                Thread.sleep(1500); // the meter's bucket refills to its burst
                long before = Files.readAllLines(file).size();
                String code = "import socket,time\n"
                        + "end=time.time()+" + FLOOD_SECONDS + "\nn=0\n"
                        + "while time.time()<end:\n"
                        + "  s=socket.socket(socket.AF_INET,socket.SOCK_DGRAM)\n"
                        + "  s.sendto(b'x',('" + nginx.ip + "',53))\n  s.close()\n  n+=1\n"
                        + "print(n)\n";
                long t0 = System.nanoTime();
                Process flood = new ProcessBuilder("ip", "netns", "exec", busybox.netns, NetnsPod.python(), "-c", code)
                        .redirectErrorStream(true).start();
                assertTrue(flood.waitFor(FLOOD_SECONDS + 20, TimeUnit.SECONDS));
                double seconds = (System.nanoTime() - t0) / 1e9;
                long sent = Long.parseLong(new String(flood.getInputStream().readAllBytes()).trim());
                Thread.sleep(1000); // what the meter let through has been written
                long logged = Files.readAllLines(file).size() - before;
                double bound = RATE * (seconds + 1) + BURST;
                System.out.printf("DENIED-LOG flood: %d new connections sent in %.1f s, %d logged (meter %d/s burst %d;"
                        + " bound %.0f)%n", sent, seconds, logged, RATE, BURST, bound);
                assertTrue(logged > 0, "the flood is logged");
                assertTrue(logged <= bound, logged + " logged > rate x duration + burst = " + bound);
                assertTrue(sent > 3 * bound, "the flood must exceed the meter for the bound to mean anything: " + sent);

                // The metric counts every logged line, by policy and direction.
                long lines = Files.readAllLines(file).size();
                double counted = registry.get("weft.agent.denied.connections").tag("policy", "default/nginx-allow")
                        .tag("direction", "Ingress").counter().count();
                assertEquals(lines, (long) counted);
            } finally {
                udp.destroy();
                pc.close();
                dp.close();
            }
        } finally {
            channel.shutdownNow().awaitTermination(5, TimeUnit.SECONDS);
            server.shutdownNow().awaitTermination(5, TimeUnit.SECONDS);
            try (var files = Files.walk(dir)) {
                files.sorted(java.util.Comparator.reverseOrder()).forEach(f -> f.toFile().delete());
            }
        }
    }
}
