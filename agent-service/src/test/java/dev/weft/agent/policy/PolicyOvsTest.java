package dev.weft.agent.policy;

import dev.weft.agent.node.NodeNetwork;
import dev.weft.agent.openflow.OfEndpoint;
import dev.weft.agent.pipeline.Datapath;
import dev.weft.agent.pipeline.NetnsPod;
import dev.weft.agent.testing.OvsSandbox;
import dev.weft.proto.controlplane.v1.NodeRealizationReport;
import dev.weft.proto.controlplane.v1.ObjectKind;
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
import java.time.Duration;
import java.util.List;
import java.util.concurrent.TimeUnit;

import static dev.weft.agent.policy.Events.*;
import static org.awaitility.Awaitility.await;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * NetworkPolicy end to end on one node: a real gRPC policy stream (served here with generated events, as
 * policy-service sends them), real Open vSwitch, pods in network namespaces, real TCP/UDP traffic.
 */
class PolicyOvsTest {

    /** A datapath on the sandbox's bridge, starting at flow round 0 with no round persisted. */
    static Datapath datapath(OvsSandbox ovs) {
        return new Datapath(OfEndpoint.parse("unix:" + ovs.mgmtSocket()), new Datapath.RoundStore() {
            public int load() {
                return 0;
            }

            public void save(int round) {
            }
        }).start();
    }

    @Test
    void nginxAllowAndFriendsAreEnforcedInTheDatapath() throws Exception {
        FakeControlPlane cp = new FakeControlPlane();
        Server server = NettyServerBuilder.forAddress(new InetSocketAddress("127.0.0.1", 0)).addService(cp).build().start();
        ManagedChannel channel = ManagedChannelBuilder.forAddress("127.0.0.1", server.getPort()).usePlaintext().build();
        try (OvsSandbox ovs = OvsSandbox.start();
             NetnsPod nginx = NetnsPod.create(ovs, "10.252.9.6/24", null, 6);
             NetnsPod nginx2 = NetnsPod.create(ovs, "10.252.9.7/24", null, 7);
             NetnsPod busybox = NetnsPod.create(ovs, "10.252.9.8/24", null, 8)) {
            Datapath dp = PolicyOvsTest.datapath(ovs);
            PolicyController pc = new PolicyController("n1", channel, dp);
            Process tcp = nginx.serve("tcp", 80);
            Process udp = nginx.serve("udp", 53);
            Process busyboxTcp = busybox.serve("tcp", 9);
            try {
                await().atMost(Duration.ofSeconds(20)).until(dp::isReady);
                dp.nodeNetworkReady(new NodeNetwork("n1", List.of("10.252.9.0/24"), List.of("10.252.9.1"), null, "gw0", 0, ""));
                dp.podAdded(nginx.asInterface("default", "nginx-1"));
                dp.podAdded(nginx2.asInterface("default", "nginx-2"));
                dp.podAdded(busybox.asInterface("default", "busybox-1"));
                assertTrue(busybox.talk("tcp", nginx.ip, 80), "no policy: open");

                // the Antrea walkthrough's nginx-allow: pods app=nginx accept only from app=nginx
                cp.snapshot = List.of(
                        addressGroup("ag-nginx", member("default", "nginx-1", nginx.ip), member("default", "nginx-2", nginx2.ip)),
                        appliedToGroup("atg-nginx", member("default", "nginx-1", nginx.ip), member("default", "nginx-2", nginx2.ip)),
                        policy(PolicyEvent.Type.ADDED, policy("uid-nginx-allow", "default", "nginx-allow", 1, List.of("atg-nginx"),
                                List.of(PolicyType.INGRESS), ingressFrom(0, List.of("ag-nginx"), List.of()))));
                pc.start();
                await().atMost(Duration.ofSeconds(20)).until(() -> pc.isSynced() && pc.realized() && !cp.reports.isEmpty());
                List<String> t90 = ovs.dumpFlows("table=90");
                assertTrue(t90.stream().anyMatch(l -> l.contains("nw_src=" + nginx2.ip + " actions=conjunction(")), t90::toString);
                assertTrue(t90.stream().anyMatch(l -> l.contains("reg1=0x6 actions=conjunction(")), t90::toString);
                assertTrue(t90.stream().anyMatch(l -> l.contains("conj_id=")), t90::toString);
                assertTrue(ovs.dumpFlows("table=100").stream().anyMatch(l -> l.contains("reg1=0x6 actions=drop")));

                assertFalse(busybox.talk("tcp", nginx.ip, 80), "busybox -> nginx TCP denied");
                assertFalse(busybox.talk("udp", nginx.ip, 53), "busybox -> nginx UDP denied");
                assertTrue(nginx2.talk("tcp", nginx.ip, 80), "nginx-2 -> nginx TCP allowed");
                assertTrue(nginx2.talk("udp", nginx.ip, 53), "nginx-2 -> nginx UDP allowed");
                // nginx-allow isolates nginx for ingress only: its own connections out, and their replies, still pass
                assertTrue(nginx.talk("tcp", busybox.ip, 9), "nginx -> busybox TCP allowed: egress is not isolated");
                NodeRealizationReport last = cp.reports.get(cp.reports.size() - 1);
                assertEquals("n1", last.getNodeName());
                assertTrue(last.getPolicies(0).getRealized());

                // a delta: a second policy opens UDP 53 (only) to busybox; one bundle, nginx-allow's flows untouched
                cp.push(addressGroup("ag-busybox", member("default", "busybox-1", busybox.ip)));
                cp.push(policy(PolicyEvent.Type.ADDED, policy("uid-dns", "default", "allow-dns", 1, List.of("atg-nginx"),
                        List.of(PolicyType.INGRESS), ingressFrom(0, List.of("ag-busybox"), List.of(), port(Protocol.UDP, 53)))));
                await().atMost(Duration.ofSeconds(10)).until(() -> pc.views().size() == 2 && pc.realized());
                assertTrue(busybox.talk("udp", nginx.ip, 53), "busybox -> nginx UDP 53 now allowed");
                assertFalse(busybox.talk("tcp", nginx.ip, 80), "busybox -> nginx TCP still denied");

                // the address group shrinks: nginx-2 loses access
                cp.push(addressGroupPatch("ag-nginx", List.of(), List.of(member("default", "nginx-2", nginx2.ip))));
                await().atMost(Duration.ofSeconds(10)).until(() ->
                        ovs.dumpFlows("table=90").stream().noneMatch(l -> l.contains("nw_src=" + nginx2.ip + " ")));
                assertFalse(nginx2.talk("tcp", nginx.ip, 80), "nginx-2 removed from the group: denied");

                // the stream breaks; the reconnect brings a fresh snapshot that REPLACES the state (allow-dns is gone)
                cp.dropStreams();
                await().atMost(Duration.ofSeconds(20)).until(() -> pc.isSynced() && pc.views().size() == 1);
                await().atMost(Duration.ofSeconds(10)).until(() -> !busybox.talk("udp", nginx.ip, 53));
                assertTrue(nginx2.talk("tcp", nginx.ip, 80), "snapshot has nginx-2 in the group again");

                // policy deleted: isolation lifted
                cp.push(deleted(ObjectKind.NETWORK_POLICY, "uid-nginx-allow"));
                await().atMost(Duration.ofSeconds(10)).until(() -> pc.views().isEmpty());
                assertTrue(busybox.talk("tcp", nginx.ip, 80), "no policy left: open again");
                assertEquals(0, ovs.dumpFlows("table=100").stream().filter(l -> !l.contains("priority=0")).count());
            } finally {
                tcp.destroy();
                udp.destroy();
                busyboxTcp.destroy();
                pc.close();
                dp.close();
            }
        } finally {
            channel.shutdownNow().awaitTermination(5, TimeUnit.SECONDS);
            server.shutdownNow().awaitTermination(5, TimeUnit.SECONDS);
        }
    }

    static void ignore(IOException e) {
    }
}
