package dev.weft.agent.host;

import java.io.IOException;
import java.util.ArrayList;
import java.util.List;
import java.util.Locale;
import java.util.TreeSet;

/**
 * The host side of NodePort Services, as Antrea's proxyAll does it: connections to any address of the node on a node
 * port are DNATed by nftables (in Weft's own table, see {@link SnatTable}) to a virtual address routed into the
 * gateway, keeping the port; the switch's Service tables match that address and the node port and choose the endpoint
 * like a ClusterIP's. Two virtual addresses say which endpoints may serve:
 * <ul>
 *   <li>{@link #CLUSTER_VIP}: any ready endpoint of the cluster. The connection is masqueraded to the gateway's address
 *   ({@code ip daddr CLUSTER_VIP masquerade}), so the endpoint's reply, wherever it runs, comes back through this node,
 *   whose conntrack undoes both translations. Used by {@code externalTrafficPolicy: Cluster}, and for every node port
 *   reached from this node's pods or from the node itself (kube-proxy treats those as internal traffic).</li>
 *   <li>{@link #LOCAL_VIP}: this node's ready endpoints only, the client's address kept ({@code
 *   externalTrafficPolicy: Local} from outside the node). No local endpoint: the connection is rejected.</li>
 * </ul>
 * The virtual addresses have a static neighbour entry (the pipeline's virtual MAC) so the host never ARPs for them.
 */
public final class NodePortSteering {

    /** Any endpoint, masqueraded to the gateway (Antrea's NodePort virtual IP). */
    public static final String CLUSTER_VIP = "169.254.0.252";
    /** This node's endpoints, client address kept. */
    public static final String LOCAL_VIP = "169.254.0.250";
    /** What the host's neighbour entries for the virtual addresses say (the pipeline's virtual MAC). */
    public static final String VIRTUAL_MAC = dev.weft.agent.pipeline.PeerNodesFeature.VIRTUAL_MAC;

    private NodePortSteering() {
    }

    /**
     * One node port of a Service port.
     *
     * @param protocol      tcp, udp or sctp
     * @param externalLocal {@code externalTrafficPolicy: Local}
     */
    public record NodePort(String protocol, int port, boolean externalLocal) implements Comparable<NodePort> {
        public NodePort {
            protocol = protocol.toLowerCase(Locale.ROOT);
            if (!List.of("tcp", "udp", "sctp").contains(protocol)) {
                throw new IllegalArgumentException("node port protocol " + protocol + " (tcp, udp or sctp)");
            }
            if (port < 1 || port > 65535) {
                throw new IllegalArgumentException("bad node port " + port);
            }
        }

        String element() {
            return protocol + " . " + port;
        }

        @Override
        public int compareTo(NodePort o) {
            int c = protocol.compareTo(o.protocol);
            return c != 0 ? c : Integer.compare(port, o.port);
        }
    }

    /**
     * The NodePort part of Weft's nft table: the sets of node ports, the DNAT chains for traffic arriving at the node
     * (prerouting) and sent by it (output; loopback destinations excepted, they cannot be routed out), and the
     * masquerade rule for {@link #CLUSTER_VIP}, which the caller puts in its postrouting chain.
     *
     * @param gatewayIf the gateway's interface: connections from it come from this node's pods, internal traffic
     */
    static List<String> tableLines(List<NodePort> ports, String gatewayIf) {
        if (!gatewayIf.matches("[A-Za-z0-9_.-]{1,15}")) {
            throw new IllegalArgumentException("not an interface name: " + gatewayIf);
        }
        TreeSet<String> all = new TreeSet<>(), local = new TreeSet<>();
        for (NodePort p : new TreeSet<>(ports)) {
            all.add(p.element());
            if (p.externalLocal()) {
                local.add(p.element());
            }
        }
        List<String> lines = new ArrayList<>();
        lines.addAll(portSet("node_ports", all));
        lines.addAll(portSet("node_ports_local", local));
        lines.add("\tchain nodeport_prerouting {");
        lines.add("\t\ttype nat hook prerouting priority dstnat; policy accept;");
        lines.add("\t\tfib daddr type local iifname != \"" + gatewayIf + "\" meta l4proto . th dport @node_ports_local"
                + " dnat to " + LOCAL_VIP + " comment \"externalTrafficPolicy Local from outside: local endpoints, client IP kept\"");
        lines.add("\t\tfib daddr type local meta l4proto . th dport @node_ports dnat to " + CLUSTER_VIP
                + " comment \"any endpoint, source NATed to the gateway\"");
        lines.add("\t}");
        lines.add("\tchain nodeport_output {");
        // nft 1.0 accepts the name dstnat only in prerouting; -100 is its value
        lines.add("\t\ttype nat hook output priority -100; policy accept;");
        lines.add("\t\tip daddr != 127.0.0.0/8 fib daddr type local meta l4proto . th dport @node_ports dnat to " + CLUSTER_VIP
                + " comment \"from the node itself\"");
        lines.add("\t}");
        return lines;
    }

    /** The postrouting rule: NodePort connections to any endpoint leave with the gateway's address. */
    static String masqueradeRule() {
        return "\t\tip daddr " + CLUSTER_VIP + " masquerade comment \"NodePort to any endpoint: replies return through this node\"";
    }

    private static List<String> portSet(String name, TreeSet<String> elements) {
        List<String> lines = new ArrayList<>(List.of("\tset " + name + " {", "\t\ttype inet_proto . inet_service"));
        if (!elements.isEmpty()) {
            lines.add("\t\telements = { " + String.join(", ", elements) + " }");
        }
        lines.add("\t}");
        return lines;
    }

    /** Routes and permanent neighbour entries of the virtual addresses into the gateway (idempotent, one batch). */
    public static void routeIntoGateway(HostCommands host, String gatewayIf) throws IOException {
        List<String> cmds = new ArrayList<>();
        for (String vip : List.of(CLUSTER_VIP, LOCAL_VIP)) {
            cmds.add("neigh replace " + vip + " lladdr " + VIRTUAL_MAC + " dev " + gatewayIf + " nud permanent");
            cmds.add("route replace " + vip + "/32 dev " + gatewayIf + " scope link");
        }
        host.ipBatch(cmds);
    }
}
