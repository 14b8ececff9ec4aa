package dev.weft.agent.service;

import dev.weft.agent.node.NodeNetwork;
import dev.weft.agent.openflow.OfEndpoint;
import dev.weft.agent.pipeline.Datapath;
import dev.weft.agent.pipeline.NetnsPod;
import dev.weft.agent.testing.OvsSandbox;
import org.junit.jupiter.api.Test;

import java.io.IOException;
import java.time.Duration;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import java.util.concurrent.TimeUnit;

import static org.awaitility.Awaitility.await;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * Services on a real Open vSwitch (userspace datapath) with pods as network namespaces: ClusterIP over TCP and UDP,
 * endpoints scaled 1 -> 3 -> 0 -> 1 with an established connection kept throughout, the groups replayed after
 * ovs-vswitchd restarts, and an agent restart that leaves no stale group behind.
 */
class ServiceOvsTest {

    static final String CIDR = "10.252.9.0/24", GW = "10.252.9.1", GW_MAC = "0a:00:00:00:09:01";
    static final String VIP = "10.96.77.10";

    static Datapath.RoundStore roundIn(OvsSandbox ovs) {
        return new Datapath.RoundStore() {
            public int load() throws IOException {
                String v = ovs.vsctl("br-get-external-id", ovs.bridge, "weft-flow-round").trim();
                return v.isEmpty() ? 0 : Integer.parseInt(v);
            }

            public void save(int round) throws IOException {
                ovs.vsctl("br-set-external-id", ovs.bridge, "weft-flow-round", Integer.toString(round));
            }
        };
    }

    static Datapath startDatapath(OvsSandbox ovs) {
        Datapath dp = new Datapath(OfEndpoint.parse("unix:" + ovs.mgmtSocket()), roundIn(ovs)).start();
        await().atMost(Duration.ofSeconds(20)).until(dp::isReady);
        dp.nodeNetworkReady(new NodeNetwork("n1", List.of(CIDR), List.of(GW), GW_MAC, "gw0", 0, ""));
        return dp;
    }

    /** The client routes Service IPs to the gateway (whose MAC it knows: there is no host side in this test). */
    static void routeServicesViaGateway(NetnsPod pod) throws IOException {
        sh("ip", "-n", pod.netns, "neigh", "replace", GW, "lladdr", GW_MAC, "dev", "eth0", "nud", "permanent");
        sh("ip", "-n", pod.netns, "route", "add", "10.96.0.0/16", "via", GW);
    }

    static void sh(String... cmd) throws IOException {
        Process p = new ProcessBuilder(cmd).redirectErrorStream(true).start();
        try {
            if (!p.waitFor(20, TimeUnit.SECONDS) || p.exitValue() != 0) {
                throw new IOException(String.join(" ", cmd) + ": " + new String(p.getInputStream().readAllBytes()));
            }
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
            throw new IOException(e);
        }
    }

    /** A TCP server that answers each connection with its pod's name, then closes. */
    static Process whoami(NetnsPod pod, String name, int port) throws IOException {
        String code = "import socket\ns=socket.socket()\ns.setsockopt(socket.SOL_SOCKET,socket.SO_REUSEADDR,1)\n"
                + "s.bind(('0.0.0.0'," + port + "))\ns.listen(64)\n"
                + "while True:\n c,a=s.accept()\n c.sendall(b'" + name + "')\n c.close()\n";
        Process p = new ProcessBuilder("ip", "netns", "exec", pod.netns, "python3", "-c", code).redirectErrorStream(true).start();
        try {
            Thread.sleep(300);
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
        }
        return p;
    }

    /**
     * {@code n} connections from the pod to ip:port, one after the other; the answers (pod names) counted, and
     * "refused" / "timeout" for connections that got a RST / nothing.
     */
    static Map<String, Integer> ask(NetnsPod from, String ip, int port, int n) throws Exception {
        return ask(from.netns, ip, port, n);
    }

    /** {@link #ask(NetnsPod, String, int, int)} from any network namespace. */
    static Map<String, Integer> ask(String netns, String ip, int port, int n) throws Exception {
        String code = "import socket,collections\nc=collections.Counter()\n"
                + "for i in range(" + n + "):\n"
                + " try:\n  s=socket.create_connection(('" + ip + "'," + port + "),timeout=2)\n"
                + "  c[s.recv(100).decode() or 'empty']+=1\n  s.close()\n"
                + " except ConnectionRefusedError:\n  c['refused']+=1\n"
                + " except OSError:\n  c['timeout']+=1\n"
                + "print(' '.join(k+'='+str(v) for k,v in sorted(c.items())))\n";
        Process p = new ProcessBuilder("ip", "netns", "exec", netns, "python3", "-c", code).redirectErrorStream(true).start();
        assertTrue(p.waitFor(n * 3L + 10, TimeUnit.SECONDS));
        String out = new String(p.getInputStream().readAllBytes()).trim();
        Map<String, Integer> counts = new HashMap<>();
        for (String kv : out.split(" ")) {
            String[] x = kv.split("=");
            if (x.length == 2) {
                counts.put(x[0], Integer.parseInt(x[1]));
            }
        }
        System.out.println("connections to " + ip + ":" + port + ": " + out);
        return counts;
    }

    static ServicePort port(ServicePortKey.Protocol proto, int port, String name, ServiceEndpoint... endpoints) {
        return new ServicePort(new ServicePortKey(VIP, proto, port), "default/web", name, List.of(endpoints));
    }

    static Map<ServicePortKey, ServicePort> ports(ServicePort... ports) {
        Map<ServicePortKey, ServicePort> m = new HashMap<>();
        for (ServicePort p : ports) {
            m.put(p.key(), p);
        }
        return m;
    }

    @Test
    void clusterIpServesTcpAndUdpFollowsScalingAndKeepsEstablishedConnections() throws Exception {
        try (OvsSandbox ovs = OvsSandbox.start();
             NetnsPod client = NetnsPod.create(ovs, "10.252.9.2/24", null, 11);
             NetnsPod ep1 = NetnsPod.create(ovs, "10.252.9.3/24", null, 12);
             NetnsPod ep2 = NetnsPod.create(ovs, "10.252.9.4/24", null, 13);
             NetnsPod ep3 = NetnsPod.create(ovs, "10.252.9.5/24", null, 14)) {
            routeServicesViaGateway(client);
            Datapath dp = startDatapath(ovs);
            List<Process> servers = new ArrayList<>();
            try {
                int i = 0;
                for (NetnsPod p : List.of(client, ep1, ep2, ep3)) {
                    dp.podAdded(p.asInterface("default", "pod" + i++));
                }
                for (NetnsPod p : List.of(ep1, ep2, ep3)) {
                    servers.add(p.serve("tcp", 8080));
                    servers.add(p.serve("udp", 5353));
                }
                servers.add(whoami(ep1, "ep1", 9090));
                servers.add(whoami(ep2, "ep2", 9090));
                servers.add(whoami(ep3, "ep3", 9090));
                ServiceFeature services = new ServiceFeature(dp);
                dp.register(services);
                ServiceEndpoint e1 = new ServiceEndpoint(ep1.ip, 8080), e2 = new ServiceEndpoint(ep2.ip, 8080),
                        e3 = new ServiceEndpoint(ep3.ip, 8080);
                ServiceEndpoint w1 = new ServiceEndpoint(ep1.ip, 9090), w2 = new ServiceEndpoint(ep2.ip, 9090),
                        w3 = new ServiceEndpoint(ep3.ip, 9090);
                ServiceEndpoint u1 = new ServiceEndpoint(ep1.ip, 5353);

                // one endpoint: TCP 80 -> 8080, UDP 53 -> 5353, TCP 81 -> whoami 9090
                services.update(ports(port(ServicePortKey.Protocol.TCP, 80, "http", e1),
                        port(ServicePortKey.Protocol.UDP, 53, "dns", u1), port(ServicePortKey.Protocol.TCP, 81, "who", w1)));
                assertTrue(services.inSync());
                assertEquals(3, dp.groupCount());
                assertTrue(client.talk("tcp", VIP, 80), () -> "TCP to the ClusterIP\n" + diagnose(ovs, client));
                assertTrue(client.talk("udp", VIP, 53), "UDP to the ClusterIP");
                assertEquals(Map.of("ep1", 5), ask(client, VIP, 81, 5));
                String groups = ovs.ofctl("dump-groups", ovs.mgmtSocket().toString());
                assertTrue(groups.contains("nat") || groups.contains("load:0x"), groups);

                // an established connection through the Service, kept while the endpoints change under it
                Process stream = client.stream(VIP, 80, 14);
                Thread.sleep(1000);

                // 1 -> 3: new connections spread over all three
                services.update(ports(port(ServicePortKey.Protocol.TCP, 80, "http", e1, e2, e3),
                        port(ServicePortKey.Protocol.UDP, 53, "dns", u1), port(ServicePortKey.Protocol.TCP, 81, "who", w1, w2, w3)));
                Map<String, Integer> spread = ask(client, VIP, 81, 45);
                assertEquals(45, spread.getOrDefault("ep1", 0) + spread.getOrDefault("ep2", 0) + spread.getOrDefault("ep3", 0), spread::toString);
                assertTrue(spread.getOrDefault("ep1", 0) > 0 && spread.getOrDefault("ep2", 0) > 0 && spread.getOrDefault("ep3", 0) > 0,
                        () -> "every endpoint gets new connections: " + spread);

                // 3 -> 0: new connections fail (rejected or dropped, see ServiceReject), the group goes
                services.update(ports(port(ServicePortKey.Protocol.TCP, 80, "http"), port(ServicePortKey.Protocol.UDP, 53, "dns"),
                        port(ServicePortKey.Protocol.TCP, 81, "who")));
                assertEquals(0, dp.groupCount(), "no endpoint, no group");
                Map<String, Integer> none = ask(client, VIP, 81, 2);
                assertEquals(2, none.getOrDefault("refused", 0) + none.getOrDefault("timeout", 0), none::toString);
                assertFalse(client.talk("udp", VIP, 53), "UDP without endpoints");

                // 0 -> 1 (another pod)
                services.update(ports(port(ServicePortKey.Protocol.TCP, 80, "http", e2), port(ServicePortKey.Protocol.UDP, 53, "dns", u1),
                        port(ServicePortKey.Protocol.TCP, 81, "who", w2)));
                assertEquals(Map.of("ep2", 4), ask(client, VIP, 81, 4));

                assertTrue(stream.waitFor(30, TimeUnit.SECONDS));
                String out = new String(stream.getInputStream().readAllBytes());
                assertEquals(0, stream.exitValue(), "the established connection broke while the endpoints changed: " + out);
                assertTrue(Integer.parseInt(out.trim()) > 100, out);

                // ovs-vswitchd restarts: groups and flows replayed, the Service answers again
                int groupsBefore = dp.groupCount();
                long replays = dp.replays();
                ovs.killVswitchd();
                ovs.startVswitchd();
                await().atMost(Duration.ofSeconds(30)).until(() -> dp.replays() > replays && dp.isReady());
                assertEquals(groupsBefore, ovs.ofctl("dump-groups", ovs.mgmtSocket().toString()).lines()
                        .filter(l -> l.contains("group_id=")).count(), "every group replayed");
                assertEquals(dp.flowCount(), ovs.dumpFlows().size(), "every flow replayed");
                assertEquals(Map.of("ep2", 3), ask(client, VIP, 81, 3));
                assertTrue(dp.lastReplay().contains("groups"), dp.lastReplay());
            } finally {
                servers.forEach(Process::destroy);
                dp.close();
            }

            // agent restart: the new run's groups take the other half of the id space; the old ones go at the end
            List<String> oldIds = groupIds(ovs);
            assertEquals(3, oldIds.size(), oldIds::toString);
            Datapath dp2 = startDatapath(ovs);
            try {
                int n = 0;
                for (NetnsPod p : List.of(client, ep1, ep2, ep3)) {
                    dp2.podAdded(p.asInterface("default", "pod" + n++));
                }
                ServiceFeature services = new ServiceFeature(dp2);
                dp2.register(services);
                services.update(ports(port(ServicePortKey.Protocol.TCP, 80, "http", new ServiceEndpoint(ep2.ip, 8080))));
                assertEquals(4, groupIds(ovs).size(), "the old run's groups stay until the restart is finished");
                dp2.finishRestart();
                List<String> ids = groupIds(ovs);
                assertEquals(1, ids.size(), ids::toString);
                assertFalse(oldIds.contains(ids.get(0)), "a new id: " + ids + " old " + oldIds);
                Process server = ep2.serve("tcp", 8080);
                try {
                    assertTrue(client.talk("tcp", VIP, 80), "TCP to the ClusterIP after the agent restart");
                } finally {
                    server.destroy();
                }
            } finally {
                dp2.close();
            }
        }
    }

    /** The flows, groups and an ofproto/trace of a new connection from the pod to the Service, for failure messages. */
    static String diagnose(OvsSandbox ovs, NetnsPod from) {
        StringBuilder sb = new StringBuilder();
        try {
            String ctl = ovs.dir.resolve("ovs-vswitchd.ctl").toString();
            sb.append(ovs.ofctl("dump-flows", ovs.mgmtSocket().toString()).lines().filter(l -> !l.contains("n_packets=0"))
                    .reduce("", (a, b) -> a + b + "\n"));
            sb.append(ovs.run(List.of("ovs-appctl", "-t", ctl, "dpctl/dump-conntrack"))).append('\n');
            sb.append(ovs.run(List.of("ovs-appctl", "-t", ctl, "dpctl/dump-flows"))).append('\n');
            sb.append(ovs.ofctl("dump-groups", ovs.mgmtSocket().toString())).append('\n');
            sb.append(ovs.run(List.of("ovs-appctl", "-t", ovs.dir.resolve("ovs-vswitchd.ctl").toString(), "ofproto/trace",
                    ovs.bridge, "in_port=" + from.ofport + ",tcp,dl_src=" + from.mac + ",dl_dst=" + GW_MAC + ",nw_src=" + from.ip
                            + ",nw_dst=" + VIP + ",tp_src=40000,tp_dst=80,nw_ttl=64", "--ct-next", "trk,new")));
        } catch (IOException e) {
            sb.append(e);
        }
        return sb.toString();
    }

    /**
     * NetworkPolicy sees the connection after DNAT: a policy on the endpoint allowing TCP 8080 (the target port, not
     * the Service port 80) only from one pod lets that pod through the Service and not another.
     */
    @Test
    void ingressPolicyOfTheEndpointAppliesAfterDnat() throws Exception {
        dev.weft.agent.policy.FakeControlPlane cp = new dev.weft.agent.policy.FakeControlPlane();
        io.grpc.Server server = io.grpc.netty.NettyServerBuilder.forAddress(new java.net.InetSocketAddress("127.0.0.1", 0))
                .addService(cp).build().start();
        io.grpc.ManagedChannel channel = io.grpc.ManagedChannelBuilder.forAddress("127.0.0.1", server.getPort()).usePlaintext().build();
        try (OvsSandbox ovs = OvsSandbox.start();
             NetnsPod busybox = NetnsPod.create(ovs, "10.252.9.2/24", null, 11);
             NetnsPod nginx = NetnsPod.create(ovs, "10.252.9.3/24", null, 12);
             NetnsPod nginx2 = NetnsPod.create(ovs, "10.252.9.4/24", null, 13)) {
            routeServicesViaGateway(busybox);
            routeServicesViaGateway(nginx2);
            cp.snapshot = List.of(
                    dev.weft.agent.policy.Events.addressGroup("ag", dev.weft.agent.policy.Events.member("default", "nginx-2", nginx2.ip)),
                    dev.weft.agent.policy.Events.appliedToGroup("atg", dev.weft.agent.policy.Events.member("default", "nginx", nginx.ip)),
                    dev.weft.agent.policy.Events.policy(dev.weft.proto.controlplane.v1.PolicyEvent.Type.ADDED,
                            dev.weft.agent.policy.Events.policy("uid-allow", "default", "nginx-allow", 1, List.of("atg"),
                                    List.of(dev.weft.proto.controlplane.v1.PolicyType.INGRESS),
                                    dev.weft.agent.policy.Events.ingressFrom(0, List.of("ag"), List.of(),
                                            dev.weft.agent.policy.Events.port(dev.weft.proto.controlplane.v1.Protocol.TCP, 8080)))));
            Datapath dp = startDatapath(ovs);
            dev.weft.agent.policy.PolicyController pc = new dev.weft.agent.policy.PolicyController("n1", channel, dp);
            Process web = nginx.serve("tcp", 8080);
            try {
                dp.podAdded(busybox.asInterface("default", "busybox"));
                dp.podAdded(nginx.asInterface("default", "nginx"));
                dp.podAdded(nginx2.asInterface("default", "nginx-2"));
                ServiceFeature services = new ServiceFeature(dp);
                dp.register(services);
                services.update(ports(port(ServicePortKey.Protocol.TCP, 80, "http", new ServiceEndpoint(nginx.ip, 8080))));
                assertTrue(busybox.talk("tcp", VIP, 80), "no policy yet: busybox reaches nginx through the Service");
                pc.start();
                await().atMost(Duration.ofSeconds(20)).until(() -> pc.isSynced() && pc.realized());
                assertFalse(busybox.talk("tcp", VIP, 80), "nginx-allow: busybox no longer reaches nginx through the Service");
                assertTrue(nginx2.talk("tcp", VIP, 80), "nginx-allow lets nginx-2 in: the rule sees the endpoint's port 8080");
            } finally {
                web.destroy();
                pc.close();
                dp.close();
            }
        } finally {
            channel.shutdownNow();
            server.shutdownNow();
        }
    }

    static String groupDump(OvsSandbox ovs) throws IOException {
        return ovs.ofctl("dump-groups", ovs.mgmtSocket().toString());
    }

    static List<String> groupIds(OvsSandbox ovs) throws IOException {
        return ovs.ofctl("dump-groups", ovs.mgmtSocket().toString()).lines()
                .filter(l -> l.contains("group_id=")).map(l -> l.trim().split(",")[0]).toList();
    }
}
