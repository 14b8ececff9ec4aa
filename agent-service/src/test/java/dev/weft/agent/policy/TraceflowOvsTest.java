package dev.weft.agent.policy;

import dev.weft.agent.TraceflowService;
import dev.weft.agent.node.NodeNetwork;
import dev.weft.agent.openflow.PacketIn;
import dev.weft.agent.openflow.PacketOut;
import dev.weft.agent.packet.Ipv4Frame;
import dev.weft.agent.pipeline.Datapath;
import dev.weft.agent.pipeline.NetnsPod;
import dev.weft.agent.pipeline.TraceflowFeature;
import dev.weft.agent.testing.OvsSandbox;
import dev.weft.net.IpAddress;
import dev.weft.net.MacAddress;
import dev.weft.proto.controlplane.v1.PolicyEvent;
import dev.weft.proto.controlplane.v1.PolicyType;
import io.grpc.ManagedChannel;
import io.grpc.ManagedChannelBuilder;
import io.grpc.Server;
import io.grpc.netty.NettyServerBuilder;
import org.junit.jupiter.api.Test;

import java.net.InetSocketAddress;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.TimeUnit;

import static dev.weft.agent.policy.Events.*;
import static org.awaitility.Awaitility.await;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNotNull;
import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * Traceflow on one node, real Open vSwitch, netns pods and the real policy stream: a probe injected at busybox's port
 * is Delivered to nginx without policy; with the walkthrough's nginx-allow it is Dropped in IngressDefaultRule with
 * the policy named, while nginx-2's probe is allowed by nginx-allow's IngressRule 0 and Delivered. The trace flows
 * are gone afterwards, and no probe reached a pod.
 */
class TraceflowOvsTest {

    @Test
    void aProbeIsDeliveredThenDroppedByTheNamedPolicy() throws Exception {
        FakeControlPlane cp = new FakeControlPlane();
        Server server = NettyServerBuilder.forAddress(new InetSocketAddress("127.0.0.1", 0)).addService(cp).build().start();
        ManagedChannel channel = ManagedChannelBuilder.forAddress("127.0.0.1", server.getPort()).usePlaintext().build();
        try (OvsSandbox ovs = OvsSandbox.start();
             NetnsPod nginx = NetnsPod.create(ovs, "10.253.9.6/24", null, 6);
             NetnsPod nginx2 = NetnsPod.create(ovs, "10.253.9.7/24", null, 7);
             NetnsPod busybox = NetnsPod.create(ovs, "10.253.9.8/24", null, 8)) {
            Datapath dp = PolicyOvsTest.datapath(ovs);
            PolicyController pc = new PolicyController("n1", channel, dp);
            try {
                await().atMost(Duration.ofSeconds(20)).until(dp::isReady);
                dp.nodeNetworkReady(new NodeNetwork("n1", List.of("10.253.9.0/24"), List.of("10.253.9.1"),
                        "0a:00:00:00:09:01", "gw0", 2, ""));
                dp.podAdded(nginx.asInterface("default", "nginx-1"));
                dp.podAdded(nginx2.asInterface("default", "nginx-2"));
                dp.podAdded(busybox.asInterface("default", "busybox-1"));
                TraceflowFeature tf = new TraceflowFeature(dp);
                dp.register(tf);
                TraceflowFeature.PolicyNames names = new TraceflowFeature.PolicyNames() {
                    public String[] rule(long conjId) {
                        for (PolicyCompiler.PolicyView v : pc.views().values()) {
                            if (v.conjIds().contains(conjId)) {
                                return new String[]{v.namespace() + "/" + v.sourceName(),
                                        TraceflowService.ruleName(pc.ruleKeyOf(conjId), conjId)};
                            }
                        }
                        return null;
                    }

                    public List<String> isolating(int ofport) {
                        List<String> out = new ArrayList<>();
                        pc.views().values().stream().filter(v -> v.isolatedPorts().contains(ofport))
                                .forEach(v -> out.add(v.namespace() + "/" + v.sourceName()));
                        return out;
                    }
                };

                List<TraceflowFeature.Observation> open = trace(dp, tf, names, busybox, nginx, 11);
                System.out.println("busybox -> nginx, no policy: " + open);
                TraceflowFeature.Observation last = open.getLast();
                assertEquals("Output", last.component());
                assertEquals("Delivered", last.action());
                assertEquals("to pod default/nginx-1", last.info());
                assertEquals("SpoofGuard", open.getFirst().component());

                cp.snapshot = List.of(
                        addressGroup("ag-nginx", member("default", "nginx-1", nginx.ip), member("default", "nginx-2", nginx2.ip)),
                        appliedToGroup("atg-nginx", member("default", "nginx-1", nginx.ip), member("default", "nginx-2", nginx2.ip)),
                        policy(PolicyEvent.Type.ADDED, policy("uid-nginx-allow", "default", "nginx-allow", 1, List.of("atg-nginx"),
                                List.of(PolicyType.INGRESS), ingressFrom(0, List.of("ag-nginx"), List.of()))));
                pc.start();
                await().atMost(Duration.ofSeconds(20)).until(() -> pc.isSynced() && pc.realized());

                List<TraceflowFeature.Observation> denied = trace(dp, tf, names, busybox, nginx, 12);
                System.out.println("busybox -> nginx, nginx-allow: " + denied);
                last = denied.getLast();
                assertEquals("IngressDefaultRule", last.component());
                assertEquals("Dropped", last.action());
                assertEquals("default/nginx-allow", last.networkPolicy());
                assertEquals("default deny", last.rule());

                List<TraceflowFeature.Observation> allowed = trace(dp, tf, names, nginx2, nginx, 13);
                System.out.println("nginx-2 -> nginx, nginx-allow: " + allowed);
                assertEquals("Delivered", allowed.getLast().action());
                assertTrue(allowed.stream().anyMatch(o -> o.component().equals("IngressRule")
                        && o.networkPolicy().equals("default/nginx-allow") && o.rule().equals("IngressRule 0")), allowed::toString);

                // every trace flow is gone; the meter stays for the next trace
                assertTrue(ovs.dumpFlows().stream().noneMatch(l -> l.contains("ip_dscp") || l.contains("nw_tos")),
                        () -> String.join("\n", safeDump(ovs)));
            } finally {
                pc.close();
                dp.close();
            }
        } finally {
            channel.shutdownNow().awaitTermination(5, TimeUnit.SECONDS);
            server.shutdownNow().awaitTermination(5, TimeUnit.SECONDS);
        }
    }

    /** What TraceflowService does on the source node: arm, inject at the pod's port, read the packet-in, disarm. */
    static List<TraceflowFeature.Observation> trace(Datapath dp, TraceflowFeature tf, TraceflowFeature.PolicyNames names,
                                                    NetnsPod from, NetnsPod to, int tag) throws Exception {
        TraceflowFeature.Trace t = tf.arm(tag, 0, 30);
        try {
            Ipv4Frame probe = new Ipv4Frame(MacAddress.parse(from.mac), MacAddress.parse(to.mac), IpAddress.parse(from.ip),
                    IpAddress.parse(to.ip), tag, tag, 64, Ipv4Frame.Tcp.syn(40000 + tag, 80));
            dp.packetOut(PacketOut.toPipeline(from.ofport, probe.encode()));
            PacketIn p = t.next(5000);
            assertNotNull(p, "no packet-in for trace " + tag);
            return tf.observe(p, true, names);
        } finally {
            tf.disarm(t);
        }
    }

    private static List<String> safeDump(OvsSandbox ovs) {
        try {
            return ovs.dumpFlows();
        } catch (java.io.IOException e) {
            return List.of(e.toString());
        }
    }
}
