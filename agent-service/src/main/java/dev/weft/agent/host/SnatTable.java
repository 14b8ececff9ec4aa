package dev.weft.agent.host;

import dev.weft.net.AddressFamily;
import dev.weft.net.IpPrefix;

import java.io.IOException;
import java.util.ArrayList;
import java.util.List;
import java.util.TreeSet;

/**
 * SNAT of pod traffic leaving the node, in one nftables table owned by Weft ({@code table ip weft}): pod traffic from
 * this node's pod CIDRs to a destination outside the cluster CIDRs is masqueraded to the address of the interface it
 * leaves by (the node IP on the uplink). Pod to pod keeps the pod's source (it goes through the tunnel), and so does pod
 * to its own node (delivered locally, it never reaches postrouting).
 *
 * <p>The same table holds the NodePort steering when the rules carry {@link NodePorts} ({@link NodePortSteering}):
 * one nft owner for the node.
 *
 * <p>Pod to another node is masqueraded too, as Antrea does in encap mode: that node would answer the pod's address
 * through its own gateway and the tunnel, and its switch, whose conntrack never saw the request (it came in on the
 * uplink), drops the reply as invalid; TCP to a hostNetwork server on another node would never connect.
 *
 * <p>The table is always replaced whole in one {@code nft -f} batch ({@code add table; delete table; table {...}} is a
 * single transaction: there is no instant without the rule, and nothing else's tables are touched). Established
 * connections survive a replacement: their NAT mapping lives in conntrack, the rules only see new connections. After
 * each replacement the table as nft lists it is remembered; a listing that differs later (a rule flushed, an element
 * added, the table deleted) is tampering, and the table is restored.
 */
public final class SnatTable {

    public static final String FAMILY = "ip";
    public static final String NAME = "weft";

    /**
     * What to masquerade: from {@code localPodCidrs} to anything not in {@code clusterCidrs}, and connections the node
     * routes into the gateway to {@code serviceCidr} (null: none). Values are validated and written canonically (they
     * reach nft as text).
     */
    public record Rules(List<String> localPodCidrs, List<String> clusterCidrs, NodePorts nodePorts, String serviceCidr) {
        public Rules {
            localPodCidrs = canonicalCidrs(localPodCidrs);
            clusterCidrs = canonicalCidrs(clusterCidrs);
            if (localPodCidrs.isEmpty()) {
                throw new IllegalArgumentException("no IPv4 pod CIDR to masquerade from");
            }
            if (serviceCidr != null) {
                IpPrefix prefix = IpPrefix.parse(serviceCidr);
                if (prefix.family() != AddressFamily.IPV4) {
                    throw new IllegalArgumentException("service CIDR " + serviceCidr + " is not IPv4");
                }
                serviceCidr = prefix.toString();
            }
        }

        /** SNAT and NodePort steering, no Service CIDR routed from the node. */
        public Rules(List<String> localPodCidrs, List<String> clusterCidrs, NodePorts nodePorts) {
            this(localPodCidrs, clusterCidrs, nodePorts, null);
        }

        /** SNAT only (no NodePort steering). */
        public Rules(List<String> localPodCidrs, List<String> clusterCidrs) {
            this(localPodCidrs, clusterCidrs, null, null);
        }

        private static List<String> canonicalCidrs(List<String> cidrs) {
            TreeSet<String> out = new TreeSet<>();
            for (String c : cidrs) {
                IpPrefix prefix = IpPrefix.parseContaining(c.trim());
                if (prefix.family() == AddressFamily.IPV4) {
                    out.add(prefix.toString());
                }
            }
            return List.copyOf(out);
        }
    }

    /**
     * The NodePort steering ({@link NodePortSteering}): the node ports and the gateway interface they are routed into.
     */
    public record NodePorts(String gatewayIf, List<NodePortSteering.NodePort> ports) {
        public NodePorts {
            ports = List.copyOf(new TreeSet<>(ports));
        }
    }

    /** What a reconcile did. */
    public enum Result { UNCHANGED, INSTALLED, RESTORED }

    private final HostCommands host;
    private String appliedBatch;
    private String appliedListing;

    public SnatTable(HostCommands host) {
        this.host = host;
    }

    /** The nft batch that replaces the table with these rules. */
    public static String render(Rules r) {
        List<String> lines = new ArrayList<>();
        lines.add("add table " + FAMILY + " " + NAME);
        lines.add("delete table " + FAMILY + " " + NAME);
        lines.add("table " + FAMILY + " " + NAME + " {");
        lines.add("\tcomment \"owned by the Weft agent: replaced whole on every change, edits are reverted\"");
        lines.addAll(intervalSet("local_pod_cidrs", r.localPodCidrs()));
        lines.addAll(intervalSet("cluster_cidrs", r.clusterCidrs()));
        if (r.nodePorts() != null) {
            lines.addAll(NodePortSteering.tableLines(r.nodePorts().ports(), r.nodePorts().gatewayIf()));
        }
        lines.add("\tchain postrouting {");
        lines.add("\t\ttype nat hook postrouting priority srcnat; policy accept;");
        if (r.nodePorts() != null) {
            lines.add(NodePortSteering.masqueradeRule());
        }
        if (r.serviceCidr() != null) {
            // The Service CIDR's route already picks the gateway's address as source; a socket bound to another
            // address (the node IP) would get the reply of an endpoint on another node straight over the underlay,
            // past the switch that must undo the DNAT.
            lines.add("\t\tip daddr " + r.serviceCidr() + " masquerade"
                    + " comment \"the node to a ClusterIP: replies return through the switch\"");
        }
        lines.add("\t\tip saddr @local_pod_cidrs ip daddr != @cluster_cidrs masquerade"
                + " comment \"pod to outside the cluster and to other nodes: node IP\"");
        lines.add("\t}");
        lines.add("}");
        return String.join("\n", lines) + "\n";
    }

    private static List<String> intervalSet(String name, List<String> cidrs) {
        List<String> lines = new ArrayList<>(List.of("\tset " + name + " {", "\t\ttype ipv4_addr", "\t\tflags interval",
                "\t\tauto-merge"));
        if (!cidrs.isEmpty()) {
            lines.add("\t\telements = { " + String.join(", ", cidrs) + " }");
        }
        lines.add("\t}");
        return lines;
    }

    /**
     * Installs the table when the rules changed or on first use (the agent's start: whatever table a previous run
     * left is replaced), restores it when it no longer lists as installed, otherwise does nothing.
     */
    public synchronized Result reconcile(Rules rules) throws IOException {
        String batch = render(rules);
        if (batch.equals(appliedBatch)) {
            if (list().equals(appliedListing)) {
                return Result.UNCHANGED;
            }
            apply(batch);
            return Result.RESTORED;
        }
        apply(batch);
        return Result.INSTALLED;
    }

    /** Deletes the table (noSNAT): idempotent, in one batch. */
    public synchronized void remove() throws IOException {
        host.inNode("add table " + FAMILY + " " + NAME + "\ndelete table " + FAMILY + " " + NAME + "\n", "nft", "-f", "-");
        appliedBatch = null;
        appliedListing = null;
    }

    /** The table as nft lists it now; "" when there is none. */
    public String list() throws IOException {
        try {
            return host.inNode(null, "nft", "list", "table", FAMILY, NAME);
        } catch (IOException e) {
            if (e.getMessage() != null && e.getMessage().contains("No such file or directory")) {
                return "";
            }
            throw e;
        }
    }

    private void apply(String batch) throws IOException {
        host.inNode(batch, "nft", "-f", "-");
        appliedBatch = batch;
        appliedListing = list();
    }
}
