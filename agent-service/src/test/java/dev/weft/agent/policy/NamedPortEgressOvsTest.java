package dev.weft.agent.policy;

import dev.weft.agent.node.NodeNetwork;
import dev.weft.agent.pipeline.Datapath;
import dev.weft.agent.pipeline.NetnsPod;
import dev.weft.agent.testing.OvsSandbox;
import dev.weft.proto.controlplane.v1.GroupMember;
import dev.weft.proto.controlplane.v1.NamedPort;
import dev.weft.proto.controlplane.v1.PolicyEvent;
import dev.weft.proto.controlplane.v1.PolicyType;
import dev.weft.proto.controlplane.v1.Protocol;
import dev.weft.proto.controlplane.v1.Service;
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

/**
 * The upstream e2e case "should allow egress access on one named port", on real Open vSwitch with pods in network
 * namespaces: {@code podSelector: {}, policyTypes: [Egress], egress: [{ports: [{port: serve-80-tcp}]}]}. An egress
 * rule without {@code to} means every destination, so the name is resolved on every pod of the cluster (policy-service
 * sends the all-pods address group as the rule's peers): connections to each pod that serves {@code serve-80-tcp}, on
 * the port that pod gives the name, pass; the same pods on other ports, a pod listening on 80 without the name, UDP,
 * and the name over an ipBlock peer (where no name can resolve) are refused. Each expectation is a real TCP or UDP
 * exchange checked both ways (allowed ones answer, refused ones do not).
 */
class NamedPortEgressOvsTest {

    private static NamedPort named(String name, Protocol protocol, int port) {
        return NamedPort.newBuilder().setName(name).setProtocol(protocol).setPort(port).build();
    }

    /** One connection to try, and whether the policy allows it. */
    private record Probe(NetnsPod from, String proto, NetnsPod to, int port, boolean allowed, String why) {
    }

    private static List<String> mismatches(List<Probe> probes) {
        List<String> wrong = new ArrayList<>();
        for (Probe p : probes) {
            boolean got = p.from.talk(p.proto, p.to.ip, p.port);
            System.out.printf("%s %s -> %s:%d %s (%s)%n", p.proto, p.from.ip, p.to.ip, p.port, got ? "answered" : "refused", p.why);
            if (got != p.allowed) {
                wrong.add(p.proto + " " + p.from.ip + " -> " + p.to.ip + ":" + p.port + (got ? " answered" : " refused")
                        + ", expected " + (p.allowed ? "allowed" : "refused") + " (" + p.why + ")");
            }
        }
        return wrong;
    }

    @Test
    void anEgressRuleWithOnlyANamedPortAllowsEveryPodServingIt() throws Exception {
        FakeControlPlane cp = new FakeControlPlane();
        Server server = NettyServerBuilder.forAddress(new InetSocketAddress("127.0.0.1", 0)).addService(cp).build().start();
        ManagedChannel channel = ManagedChannelBuilder.forAddress("127.0.0.1", server.getPort()).usePlaintext().build();
        List<Process> servers = new ArrayList<>();
        try (OvsSandbox ovs = OvsSandbox.start();
             NetnsPod client = NetnsPod.create(ovs, "10.252.11.5/24", null, 5);
             NetnsPod a = NetnsPod.create(ovs, "10.252.11.6/24", null, 6);
             NetnsPod b = NetnsPod.create(ovs, "10.252.11.7/24", null, 7);
             NetnsPod c = NetnsPod.create(ovs, "10.252.11.8/24", null, 8);
             NetnsPod plain = NetnsPod.create(ovs, "10.252.11.9/24", null, 9)) {
            Datapath dp = PolicyOvsTest.datapath(ovs);
            PolicyController pc = new PolicyController("n1", channel, dp);
            try {
                // a and b name their port 80 serve-80-tcp; c gives the name to 8080; plain listens on 80 unnamed
                for (NetnsPod p : List.of(a, b, plain)) {
                    servers.add(p.serve("tcp", 80));
                }
                servers.add(a.serve("tcp", 81));
                servers.add(a.serve("udp", 80));
                servers.add(c.serve("tcp", 8080));
                servers.add(c.serve("tcp", 80));
                await().atMost(Duration.ofSeconds(20)).until(dp::isReady);
                dp.nodeNetworkReady(new NodeNetwork("n1", List.of("10.252.11.0/24"), List.of("10.252.11.1"), null, "gw0", 0, ""));
                GroupMember mClient = member("ns", "client", client.ip);
                GroupMember mA = member("ns", "server-a", a.ip, named("serve-80-tcp", Protocol.TCP, 80),
                        named("serve-80-udp", Protocol.UDP, 80));
                GroupMember mB = member("other", "server-b", b.ip, named("serve-80-tcp", Protocol.TCP, 80));
                GroupMember mC = member("other", "server-c", c.ip, named("serve-80-tcp", Protocol.TCP, 8080));
                GroupMember mPlain = member("other", "plain", plain.ip);
                dp.podAdded(client.asInterface("ns", "client"));
                dp.podAdded(a.asInterface("ns", "server-a"));
                dp.podAdded(b.asInterface("other", "server-b"));
                dp.podAdded(c.asInterface("other", "server-c"));
                dp.podAdded(plain.asInterface("other", "plain"));

                List<Probe> open = List.of(new Probe(client, "tcp", a, 81, true, "no policy yet"),
                        new Probe(client, "tcp", plain, 80, true, "no policy yet"));
                assertEquals(List.of(), mismatches(open));

                // what policy-service sends for podSelector {} in ns (the client and server-a), the rule without 'to'
                // as the all-pods group; a second policy in the same namespace with the name over an ipBlock
                cp.snapshot = List.of(
                        addressGroup("ag-all-pods", mClient, mA, mB, mC, mPlain),
                        appliedToGroup("atg-ns", mClient, mA),
                        policy(PolicyEvent.Type.ADDED, policy("uid-named-egress", "ns", "allow-egress-named-port", 1,
                                List.of("atg-ns"), List.of(PolicyType.EGRESS),
                                egressTo(0, List.of("ag-all-pods"), namedPortService("serve-80-tcp")))),
                        policy(PolicyEvent.Type.ADDED, policy("uid-named-block", "ns", "named-port-on-ipblock", 1,
                                List.of("atg-ns"), List.of(PolicyType.EGRESS),
                                egressToBlocks(0, List.of(block("10.252.11.0/24")),
                                        Service.newBuilder().setProtocol(Protocol.UDP).setPortName("serve-80-udp").build()))));
                pc.start();
                await().atMost(Duration.ofSeconds(20)).until(() -> pc.isSynced() && pc.realized() && !cp.reports.isEmpty());

                List<Probe> probes = List.of(
                        new Probe(client, "tcp", a, 80, true, "server-a serves serve-80-tcp on 80"),
                        new Probe(client, "tcp", b, 80, true, "server-b in another namespace serves it on 80"),
                        new Probe(client, "tcp", c, 8080, true, "server-c gives the name to 8080"),
                        new Probe(client, "tcp", c, 80, false, "server-c's 80 has no name"),
                        new Probe(client, "tcp", a, 81, false, "another port of a pod that serves the name"),
                        new Probe(client, "tcp", plain, 80, false, "a pod listening on 80 without the name"),
                        new Probe(client, "udp", a, 80, false, "serve-80-udp only over an ipBlock: cannot resolve"),
                        new Probe(a, "tcp", b, 80, true, "server-a is selected too and may reach the name"),
                        new Probe(a, "tcp", plain, 80, false, "server-a to an unnamed port"),
                        new Probe(plain, "tcp", a, 81, true, "plain is not selected: its egress is open"));
                assertEquals(List.of(), mismatches(probes));

                // the named port moves: server-b now names 8080; 80 closes for it, 8080 opens
                servers.add(b.serve("tcp", 8080));
                GroupMember mB2 = member("other", "server-b", b.ip, named("serve-80-tcp", Protocol.TCP, 8080));
                cp.push(addressGroupPatch("ag-all-pods", List.of(mB2), List.of(mB)));
                await().atMost(Duration.ofSeconds(10)).until(() -> !client.talk("tcp", b.ip, 80));
                assertEquals(List.of(), mismatches(List.of(
                        new Probe(client, "tcp", b, 8080, true, "server-b's name is on 8080 now"),
                        new Probe(client, "tcp", b, 80, false, "server-b's 80 lost the name"),
                        new Probe(client, "tcp", a, 80, true, "server-a unchanged"))));
            } finally {
                servers.forEach(Process::destroy);
                pc.close();
                dp.close();
            }
        } finally {
            channel.shutdownNow().awaitTermination(5, TimeUnit.SECONDS);
            server.shutdownNow().awaitTermination(5, TimeUnit.SECONDS);
        }
    }
}
