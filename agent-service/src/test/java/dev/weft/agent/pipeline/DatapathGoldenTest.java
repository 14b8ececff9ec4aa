package dev.weft.agent.pipeline;

import dev.weft.agent.node.NodeNetwork;
import dev.weft.agent.node.PodInterface;
import dev.weft.agent.openflow.OfEndpoint;
import dev.weft.agent.policy.FakeControlPlane;
import dev.weft.agent.policy.PolicyController;
import dev.weft.agent.testing.OvsSandbox;
import dev.weft.proto.controlplane.v1.PolicyEvent;
import dev.weft.proto.controlplane.v1.PolicyType;
import dev.weft.proto.controlplane.v1.Protocol;
import io.grpc.ManagedChannel;
import io.grpc.ManagedChannelBuilder;
import io.grpc.Server;
import io.grpc.netty.NettyServerBuilder;
import org.junit.jupiter.api.Test;

import java.io.IOException;
import java.net.InetSocketAddress;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.Comparator;
import java.util.HashSet;
import java.util.List;
import java.util.Set;
import java.util.concurrent.TimeUnit;
import java.util.regex.Matcher;
import java.util.regex.Pattern;

import static dev.weft.agent.policy.Events.*;
import static org.awaitility.Awaitility.await;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.fail;

/**
 * Every flow the datapath puts on a real Open vSwitch for a fixed scenario, compared with a committed golden dump:
 * the gateway, three local pods, two peer nodes behind a tunnel port, the Antrea walkthrough's nginx-allow policy
 * (app=nginx accepts TCP 80 only from app=nginx) and an egress ipBlock policy with an except. The dump comes from
 * {@code ovs-ofctl dump-flows} (not our own decoder), normalised to table, priority, match, actions and the cookie's
 * category and object (the round and the counters stripped), sorted.
 *
 * <p>A change to the pipeline that changes flows must change the golden file on purpose: regenerate it with
 * {@code ./mvnw -B -o test -pl net,proto,kube-api-recorder,agent-service -Dtest=DatapathGoldenTest -Dweft.golden.update=true
 * -Dsurefire.failIfNoSpecifiedTests=false} and review the diff.
 */
class DatapathGoldenTest {

    static final String GOLDEN = "src/test/resources/dev/weft/agent/pipeline/golden-flows.txt";
    static final int GATEWAY_PORT = 2, TUNNEL_PORT = 30;

    static final NodeNetwork NODE = new NodeNetwork("n1", List.of("10.10.1.0/24"), List.of("10.10.1.1"),
            "0a:00:00:00:01:01", "gw0", GATEWAY_PORT, "192.168.77.1");
    static final PodInterface NGINX_1 = pod("nginx-1", "10.10.1.6", 6);
    static final PodInterface NGINX_2 = pod("nginx-2", "10.10.1.7", 7);
    static final PodInterface BUSYBOX = pod("busybox-1", "10.10.1.8", 8);
    static final List<PeerNodesFeature.PeerNode> PEERS = List.of(
            new PeerNodesFeature.PeerNode("n2", List.of("10.10.2.0/24"), "192.168.77.2"),
            new PeerNodesFeature.PeerNode("n3", List.of("10.10.3.0/24"), "192.168.77.3"));

    static PodInterface pod(String name, String ip, int ofport) {
        return new PodInterface("default", name, "cid-" + name, "eth0", "", List.of(ip),
                String.format("0a:00:00:00:01:%02x", ofport), "veth-" + name, "", ofport);
    }

    static List<PolicyEvent> policies() {
        return List.of(
                // nginx-3 runs on peer node n2: a peer address only
                addressGroup("ag-nginx", member("default", "nginx-1", NGINX_1.ips().get(0)),
                        member("default", "nginx-2", NGINX_2.ips().get(0)), member("default", "nginx-3", "10.10.2.5")),
                appliedToGroup("atg-nginx", member("default", "nginx-1", NGINX_1.ips().get(0)),
                        member("default", "nginx-2", NGINX_2.ips().get(0))),
                appliedToGroup("atg-busybox", member("default", "busybox-1", BUSYBOX.ips().get(0))),
                policy(PolicyEvent.Type.ADDED, policy("uid-nginx-allow", "default", "nginx-allow", 1, List.of("atg-nginx"),
                        List.of(PolicyType.INGRESS), ingressFrom(0, List.of("ag-nginx"), List.of(), port(Protocol.TCP, 80)))),
                policy(PolicyEvent.Type.ADDED, policy("uid-busybox-egress", "default", "busybox-egress", 1,
                        List.of("atg-busybox"), List.of(PolicyType.EGRESS),
                        egressToBlocks(0, List.of(block("172.17.0.0/16", "172.17.1.0/24"))))));
    }

    @Test
    void theScenariosFlowsAreTheGoldenOnes() throws Exception {
        FakeControlPlane cp = new FakeControlPlane();
        cp.snapshot = policies();
        Server server = NettyServerBuilder.forAddress(new InetSocketAddress("127.0.0.1", 0)).addService(cp).build().start();
        ManagedChannel channel = ManagedChannelBuilder.forAddress("127.0.0.1", server.getPort()).usePlaintext().build();
        try (OvsSandbox ovs = OvsSandbox.start()) {
            String tun = "wgt" + Long.toString(System.nanoTime() % 1_000_000, 36);
            ovs.vsctl("add-port", ovs.bridge, tun, "--", "set", "interface", tun, "type=geneve", "options:remote_ip=flow",
                    "options:key=flow", "ofport_request=" + TUNNEL_PORT);
            Datapath dp = new Datapath(OfEndpoint.parse("unix:" + ovs.mgmtSocket()), DatapathOvsTest.roundIn(ovs)).start();
            PolicyController pc = new PolicyController("n1", channel, dp);
            try {
                await().atMost(Duration.ofSeconds(20)).until(dp::isReady);
                dp.nodeNetworkReady(NODE);
                dp.podAdded(NGINX_1);
                dp.podAdded(NGINX_2);
                dp.podAdded(BUSYBOX);
                dp.feature(PeerNodesFeature.class).update(TUNNEL_PORT, PEERS);
                pc.start();
                await().atMost(Duration.ofSeconds(20)).until(() -> pc.isSynced() && pc.realized() && pc.views().size() == 2);
                List<String> dump = ovs.dumpFlows("--no-names");
                assertEquals(dp.flowCount(), dump.size(), "the switch has exactly the stored flows");
                List<String> actual = normalise(dump);
                Path golden = Path.of(System.getProperty("basedir", ".")).resolve(GOLDEN);
                if (Boolean.getBoolean("weft.golden.update")) {
                    Files.createDirectories(golden.getParent());
                    Files.write(golden, actual);
                    System.out.println("wrote " + actual.size() + " flows to " + golden);
                    return;
                }
                if (!Files.exists(golden)) {
                    fail("no golden file " + golden + ": generate it with -Dweft.golden.update=true");
                }
                List<String> expected = Files.readAllLines(golden);
                if (!expected.equals(actual)) {
                    fail(diff(expected, actual));
                }
            } finally {
                pc.close();
                dp.close();
            }
        } finally {
            channel.shutdownNow().awaitTermination(5, TimeUnit.SECONDS);
            server.shutdownNow().awaitTermination(5, TimeUnit.SECONDS);
        }
    }

    private static final Pattern LINE = Pattern.compile(
            "^(?:cookie=(0x[0-9a-f]+), )?(?:duration=[^,]+, )?(?:table=(\\d+), )?(?:n_packets=\\d+, n_bytes=\\d+, )?"
                    + "(?:idle_age=\\d+, )?priority=(\\d+)(,\\S+)? actions=(.*)$");

    /**
     * {@code table=T, priority=P[,match] actions=A cookie=category/object}: the cookie without its round (the bits
     * that change with every agent run), in hex as on the switch; sorted by table, priority (high first), then text.
     */
    static List<String> normalise(List<String> ofctlLines) {
        List<String[]> rows = new ArrayList<>();
        for (String l : ofctlLines) {
            Matcher m = LINE.matcher(l.trim());
            if (!m.matches()) {
                throw new IllegalArgumentException("unexpected ovs-ofctl line: " + l);
            }
            long cookie = m.group(1) == null ? 0 : Long.parseUnsignedLong(m.group(1).substring(2), 16);
            String table = m.group(2) == null ? "0" : m.group(2); // ovs-ofctl leaves out table=0
            String line = "table=" + table + ", priority=" + m.group(3) + (m.group(4) == null ? "" : m.group(4))
                    + " actions=" + m.group(5) + " cookie=" + String.format("0x%02x/0x%x", (cookie >>> 40) & 0xff,
                    cookie & ((1L << 40) - 1));
            rows.add(new String[]{table, m.group(3), line});
        }
        rows.sort(Comparator.<String[]>comparingInt(r -> Integer.parseInt(r[0]))
                .thenComparing(r -> -Integer.parseInt(r[1])).thenComparing(r -> r[2]));
        return rows.stream().map(r -> r[2]).toList();
    }

    private static String diff(List<String> expected, List<String> actual) {
        Set<String> e = new HashSet<>(expected);
        Set<String> a = new HashSet<>(actual);
        StringBuilder sb = new StringBuilder("flows differ from " + GOLDEN + " (regenerate with -Dweft.golden.update=true"
                + " only if the change is intended)\n");
        expected.stream().filter(x -> !a.contains(x)).forEach(x -> sb.append("- ").append(x).append('\n'));
        actual.stream().filter(x -> !e.contains(x)).forEach(x -> sb.append("+ ").append(x).append('\n'));
        return sb.toString();
    }
}
