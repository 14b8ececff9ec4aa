package dev.weft.agent.service;

import dev.weft.agent.host.HostCommands;
import dev.weft.agent.host.HostNetworkReconciler;
import dev.weft.agent.host.PeerRoutes;
import dev.weft.agent.host.NodePortSteering;
import dev.weft.agent.host.SnatTable;
import dev.weft.agent.node.NodeNetwork;
import dev.weft.agent.openflow.OfEndpoint;
import dev.weft.agent.pipeline.Datapath;
import dev.weft.agent.pipeline.NetnsPod;
import dev.weft.agent.testing.OvsSandbox;
import dev.weft.net.IpPrefix;
import io.fabric8.kubernetes.api.model.Service;
import io.fabric8.kubernetes.api.model.discovery.v1.EndpointSlice;
import org.junit.jupiter.api.Test;

import java.io.IOException;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.Optional;
import java.util.concurrent.ThreadLocalRandom;

import static org.awaitility.Awaitility.await;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * NodePort Services on a real Open vSwitch (userspace) with the host side in nftables: a "node" network namespace
 * holds the gateway (a veth whose other end is the switch's gateway port), Weft's nft table and an uplink to an
 * "outside" namespace, which has no route to any pod (like a client on the internet). Pods are namespaces on the
 * switch. The endpoint answers each connection with its name and the source address it sees, so the source IP the
 * Service delivered is checked: the gateway's under {@code externalTrafficPolicy: Cluster}, the outside client's
 * under {@code Local}.
 */
class ServiceNodePortOvsTest {

    static final String CIDR = "10.252.19.0/24", GW = "10.252.19.1", GW_MAC = "0a:00:00:00:13:01";
    static final String NODE_IP = "192.168.193.2", OUTSIDE_IP = "192.168.193.100";
    static final String CLUSTER_IP = "10.96.77.30";
    static final int NODE_PORT = 30080, GW_OFPORT = 2;

    /** The node's namespace: gateway veth (host end gw*, switch end attached at {@link #GW_OFPORT}) and uplink. */
    record Node(String netns, String gatewayIf, String outsideNetns) implements AutoCloseable {
        static Node create(OvsSandbox ovs) throws IOException {
            String s = Long.toString(ThreadLocalRandom.current().nextLong(36L * 36 * 36 * 36 * 36), 36);
            Node n = new Node("wnpn" + s, "gw" + s, "wnpo" + s);
            try {
                sh("ip", "netns", "add", n.netns);
                sh("ip", "netns", "add", n.outsideNetns);
                sh("ip", "-n", n.netns, "link", "set", "lo", "up");
                sh("ip", "-n", n.outsideNetns, "link", "set", "lo", "up");
                // gateway: the switch side stays in the root namespace, where the sandbox's ovs-vswitchd runs
                sh("ip", "link", "add", "gs" + s, "type", "veth", "peer", "name", n.gatewayIf, "netns", n.netns);
                sh("ip", "-n", n.netns, "link", "set", n.gatewayIf, "address", GW_MAC);
                sh("ip", "-n", n.netns, "addr", "add", GW + "/24", "dev", n.gatewayIf);
                sh("ip", "-n", n.netns, "link", "set", n.gatewayIf, "up");
                sh("ip", "link", "set", "gs" + s, "up");
                ovs.vsctl("add-port", ovs.bridge, "gs" + s, "--", "set", "interface", "gs" + s, "ofport_request=" + GW_OFPORT);
                // uplink to the outside client
                sh("ip", "link", "add", "ul" + s, "netns", n.netns, "type", "veth", "peer", "name", "eth0", "netns", n.outsideNetns);
                sh("ip", "-n", n.netns, "addr", "add", NODE_IP + "/24", "dev", "ul" + s);
                sh("ip", "-n", n.netns, "link", "set", "ul" + s, "up");
                sh("ip", "-n", n.outsideNetns, "addr", "add", OUTSIDE_IP + "/24", "dev", "eth0");
                sh("ip", "-n", n.outsideNetns, "link", "set", "eth0", "up");
                // the userspace datapath needs checksums computed by whoever sends into it
                for (String[] dev : new String[][]{{n.netns, n.gatewayIf}, {n.netns, "ul" + s}, {n.outsideNetns, "eth0"}}) {
                    sh("ip", "netns", "exec", dev[0], "ethtool", "-K", dev[1], "tx", "off");
                }
                sh("ip", "netns", "exec", n.netns, "sh", "-c", "echo 1 > /proc/sys/net/ipv4/ip_forward");
                return n;
            } catch (IOException | RuntimeException e) {
                n.close();
                throw e;
            }
        }

        HostCommands commands() {
            return new HostCommands(Optional.of(netns));
        }

        @Override
        public void close() {
            for (String ns : List.of(netns, outsideNetns)) {
                try {
                    sh("ip", "netns", "del", ns);
                } catch (IOException e) {
                    // already gone
                }
            }
            try {
                sh("ip", "link", "del", "gs" + gatewayIf.substring(2));
            } catch (IOException e) {
                // went with the namespace
            }
        }
    }

    static void sh(String... cmd) throws IOException {
        ServiceOvsTest.sh(cmd);
    }

    /** A TCP server answering each connection with {@code name@<source address it sees>}. */
    static Process whoamiWithSource(NetnsPod pod, String name, int port) throws IOException {
        String code = "import socket\ns=socket.socket()\ns.setsockopt(socket.SOL_SOCKET,socket.SO_REUSEADDR,1)\n"
                + "s.bind(('0.0.0.0'," + port + "))\ns.listen(64)\n"
                + "while True:\n c,a=s.accept()\n c.sendall(('" + name + "@'+a[0]).encode())\n c.close()\n";
        Process p = new ProcessBuilder("ip", "netns", "exec", pod.netns, "python3", "-c", code).redirectErrorStream(true).start();
        try {
            Thread.sleep(300);
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
        }
        return p;
    }

    static Service nodePortService(String etp) {
        Service s = ServiceModelTest.service("web", CLUSTER_IP, null, "who", "TCP", 81, 9090);
        s.getSpec().setType("NodePort");
        s.getSpec().getPorts().get(0).setNodePort(NODE_PORT);
        s.getSpec().setExternalTrafficPolicy(etp);
        return s;
    }

    /** Resolves the Service, installs it in the switch and its node ports in the node's nft table. */
    static void apply(ServiceFeature feature, SnatTable nft, Node node, Service svc, EndpointSlice slice) throws IOException {
        Map<ServicePortKey, ServicePort> ports = ServiceModel.resolve(List.of(svc), List.of(slice), "n1");
        feature.update(ports);
        assertTrue(feature.inSync());
        nft.reconcile(new SnatTable.Rules(List.of(CIDR), List.of(CIDR),
                new SnatTable.NodePorts(node.gatewayIf(), ServiceModel.nodePorts(ports))));
    }

    @Test
    void nodePortFromOutsideFromTheNodeAndFromPodsWithBothExternalTrafficPolicies() throws Exception {
        try (OvsSandbox ovs = OvsSandbox.start();
             Node node = Node.create(ovs);
             NetnsPod client = NetnsPod.create(ovs, "10.252.19.2/24", GW, 11);
             NetnsPod ep1 = NetnsPod.create(ovs, "10.252.19.3/24", GW, 12)) {
            Datapath dp = new Datapath(OfEndpoint.parse("unix:" + ovs.mgmtSocket()), ServiceOvsTest.roundIn(ovs)).start();
            List<Process> servers = new ArrayList<>();
            try {
                await().atMost(Duration.ofSeconds(20)).until(dp::isReady);
                dp.nodeNetworkReady(new NodeNetwork("n1", List.of(CIDR), List.of(GW), GW_MAC, node.gatewayIf(), GW_OFPORT, NODE_IP));
                dp.podAdded(client.asInterface("default", "client"));
                dp.podAdded(ep1.asInterface("default", "ep1"));
                servers.add(whoamiWithSource(ep1, "ep1", 9090));
                ServiceFeature services = new ServiceFeature(dp);
                dp.register(services);
                HostCommands host = node.commands();
                NodePortSteering.routeIntoGateway(host, node.gatewayIf());
                SnatTable nft = new SnatTable(host);
                EndpointSlice local = ServiceModelTest.slice("web", "web-1", new Object[]{ep1.ip, "n1", true, false}, "who", "TCP", 9090);

                // externalTrafficPolicy Cluster: SNAT to the gateway, from everywhere
                apply(services, nft, node, nodePortService("Cluster"), local);
                String snat = "ep1@" + GW;
                assertEquals(Map.of(snat, 3), ServiceOvsTest.ask(node.outsideNetns(), NODE_IP, NODE_PORT, 3),
                        () -> "from outside, ETP Cluster\n" + ServiceOvsTest.diagnose(ovs, client) + nftList(host));
                assertEquals(Map.of(snat, 2), ServiceOvsTest.ask(node.netns(), NODE_IP, NODE_PORT, 2), "from the node itself");
                assertEquals(Map.of(snat, 2), ServiceOvsTest.ask(node.netns(), GW, NODE_PORT, 2), "from the node, to its gateway address");
                assertEquals(Map.of(snat, 2), ServiceOvsTest.ask(client.netns, NODE_IP, NODE_PORT, 2), "from a pod");
                assertEquals(Map.of("ep1@" + client.ip, 2), ServiceOvsTest.ask(client.netns, CLUSTER_IP, 81, 2),
                        "the ClusterIP keeps serving, without SNAT");

                // externalTrafficPolicy Local: the outside client's address reaches the endpoint; pods still masqueraded
                apply(services, nft, node, nodePortService("Local"), local);
                assertEquals(Map.of("ep1@" + OUTSIDE_IP, 3), ServiceOvsTest.ask(node.outsideNetns(), NODE_IP, NODE_PORT, 3),
                        "from outside, ETP Local: the client IP kept");
                assertEquals(Map.of(snat, 2), ServiceOvsTest.ask(client.netns, NODE_IP, NODE_PORT, 2), "from a pod, ETP Local");
                assertEquals(Map.of(snat, 2), ServiceOvsTest.ask(node.netns(), NODE_IP, NODE_PORT, 2), "from the node, ETP Local");

                // ETP Local and the only endpoint on another node: rejected on this node (the reset from the virtual
                // address reaches the outside client as the node's, through the host's conntrack)
                EndpointSlice remote = ServiceModelTest.slice("web", "web-1", new Object[]{"10.252.20.3", "n2", true, false}, "who", "TCP", 9090);
                apply(services, nft, node, nodePortService("Local"), remote);
                assertEquals(Map.of("refused", 2), ServiceOvsTest.ask(node.outsideNetns(), NODE_IP, NODE_PORT, 2));

                // the Service gone: its node port is no longer steered (nothing listens on the node: refused)
                feature(services, Map.of());
                nft.reconcile(new SnatTable.Rules(List.of(CIDR), List.of(CIDR), new SnatTable.NodePorts(node.gatewayIf(), List.of())));
                assertEquals(Map.of("refused", 1), ServiceOvsTest.ask(node.outsideNetns(), NODE_IP, NODE_PORT, 1));
            } finally {
                servers.forEach(Process::destroy);
                dp.close();
            }
        }
    }

    /**
     * The node itself (and so any hostNetwork pod) reaching a ClusterIP: the Service CIDR is routed into the gateway
     * from the gateway's address, the switch's Service tables choose the endpoint, and the reply comes back through the
     * switch's conntrack. A socket bound to the node IP is masqueraded to the gateway's address on the way in.
     */
    @Test
    void theNodeReachesAClusterIpThroughTheGateway() throws Exception {
        try (OvsSandbox ovs = OvsSandbox.start();
             Node node = Node.create(ovs);
             NetnsPod ep1 = NetnsPod.create(ovs, "10.252.19.3/24", GW, 12)) {
            Datapath dp = new Datapath(OfEndpoint.parse("unix:" + ovs.mgmtSocket()), ServiceOvsTest.roundIn(ovs)).start();
            List<Process> servers = new ArrayList<>();
            try {
                await().atMost(Duration.ofSeconds(20)).until(dp::isReady);
                dp.nodeNetworkReady(new NodeNetwork("n1", List.of(CIDR), List.of(GW), GW_MAC, node.gatewayIf(), GW_OFPORT, NODE_IP));
                dp.podAdded(ep1.asInterface("default", "ep1"));
                servers.add(whoamiWithSource(ep1, "ep1", 9090));
                ServiceFeature services = new ServiceFeature(dp);
                dp.register(services);
                HostCommands host = node.commands();
                // Without the route a cluster IP is not reachable from the node (here: no route at all).
                assertEquals(Map.of("timeout", 1), ServiceOvsTest.ask(node.netns(), CLUSTER_IP, 81, 1));

                IpPrefix serviceCidr = IpPrefix.parse("10.96.0.0/12");
                NodePortSteering.routeIntoGateway(host, node.gatewayIf());
                new PeerRoutes(host).reconcile(node.gatewayIf(), List.of(HostNetworkReconciler.serviceRoute(serviceCidr, GW)));
                SnatTable nft = new SnatTable(host);
                EndpointSlice local = ServiceModelTest.slice("web", "web-1", new Object[]{ep1.ip, "n1", true, false}, "who", "TCP", 9090);
                Map<ServicePortKey, ServicePort> ports = ServiceModel.resolve(List.of(nodePortService("Cluster")), List.of(local), "n1");
                feature(services, ports);
                nft.reconcile(new SnatTable.Rules(List.of(CIDR), List.of(CIDR),
                        new SnatTable.NodePorts(node.gatewayIf(), ServiceModel.nodePorts(ports)), serviceCidr.toString()));

                assertEquals(Map.of("ep1@" + GW, 3), ServiceOvsTest.ask(node.netns(), CLUSTER_IP, 81, 3),
                        () -> "from the node to the ClusterIP\n" + ServiceOvsTest.diagnose(ovs, ep1) + nftList(host));
                assertEquals("ep1@" + GW, askFrom(node.netns(), NODE_IP, CLUSTER_IP, 81),
                        () -> "bound to the node IP\n" + nftList(host));

                // No ready endpoint: refused by the switch, as for a pod.
                feature(services, ServiceModel.resolve(List.of(nodePortService("Cluster")),
                        List.of(ServiceModelTest.slice("web", "web-1", new Object[]{ep1.ip, "n1", false, false}, "who", "TCP", 9090)), "n1"));
                assertEquals(Map.of("refused", 1), ServiceOvsTest.ask(node.netns(), CLUSTER_IP, 81, 1));
            } finally {
                servers.forEach(Process::destroy);
                dp.close();
            }
        }
    }

    /** One connection from a socket bound to {@code source}; the answer (or the error). */
    static String askFrom(String netns, String source, String ip, int port) throws Exception {
        String code = "import socket\ntry:\n s=socket.create_connection(('" + ip + "'," + port + "),timeout=2,source_address=('"
                + source + "',0))\n print(s.recv(100).decode())\nexcept OSError as e:\n print(type(e).__name__)\n";
        Process p = new ProcessBuilder("ip", "netns", "exec", netns, "python3", "-c", code).redirectErrorStream(true).start();
        assertTrue(p.waitFor(15, java.util.concurrent.TimeUnit.SECONDS));
        return new String(p.getInputStream().readAllBytes()).trim();
    }

    private static void feature(ServiceFeature f, Map<ServicePortKey, ServicePort> ports) {
        f.update(ports);
        assertTrue(f.inSync());
    }

    private static String nftList(HostCommands host) {
        try {
            return host.inNode(null, "nft", "list", "ruleset");
        } catch (IOException e) {
            return e.toString();
        }
    }
}
