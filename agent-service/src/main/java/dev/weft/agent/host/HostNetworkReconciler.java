package dev.weft.agent.host;

import dev.weft.net.AddressFamily;
import dev.weft.net.InterfaceAddress;
import dev.weft.net.IpAddress;
import dev.weft.net.IpPrefix;
import dev.weft.agent.node.NodeNetwork;
import org.jboss.logging.Logger;

import java.util.ArrayList;
import java.util.Collections;
import java.util.EnumMap;
import java.util.LinkedHashSet;
import java.util.List;
import java.util.Map;
import java.util.Optional;
import java.util.Set;

/**
 * One pass over the node's host side, from the sources of truth (this node's network and the peers): the bridge's
 * settings and the tunnel port, IPv4 forwarding, the gateway's address, routes to the peers' pod CIDRs, the SNAT
 * table. Each aspect is attempted whatever happened to the others, and its problem (if any) is returned: pods reach
 * each other without SNAT, the outside without peer routes. Not thread-safe: one caller at a time.
 */
public final class HostNetworkReconciler {

    private static final Logger LOG = Logger.getLogger(HostNetworkReconciler.class);
    static final String IP_FORWARD = "net/ipv4/ip_forward";

    /** The aspects in the order they are reconciled and reported. */
    public enum Aspect { BRIDGE, TUNNEL, FORWARDING, GATEWAY, ROUTES, SNAT }

    /** Whether pod traffic leaving the cluster is masqueraded. */
    public enum Snat {
        MASQUERADE,
        /** {@code agent.no-snat}: routed networks; Weft's table is removed if a previous run left one. */
        OFF,
        /** SNAT is wanted but there is no {@code nft}: reported, nothing is attempted. */
        UNAVAILABLE
    }

    public static final String NFT_MISSING =
            "nft not found (install the nftables package, or set agent.no-snat=true on a routed network)";

    /**
     * @param clusterCidrs the cluster's pod CIDRs; empty: the pod CIDRs of every known node
     * @param serviceCidr  the cluster's IPv4 Service CIDR, routed into the gateway so that the node itself and
     *                     hostNetwork pods reach cluster IPs through the switch; empty: not routed
     */
    public record Settings(Snat snat, List<String> clusterCidrs, Optional<IpPrefix> serviceCidr) {
        public Settings {
            clusterCidrs = List.copyOf(clusterCidrs);
            if (serviceCidr.filter(p -> p.family() != AddressFamily.IPV4).isPresent()) {
                throw new IllegalArgumentException("service CIDR " + serviceCidr.get() + " is not IPv4 (IPv6 Services are not built)");
            }
        }

        /** No Service CIDR routed from the node. */
        public Settings(Snat snat, List<String> clusterCidrs) {
            this(snat, clusterCidrs, Optional.empty());
        }
    }

    private final HostCommands host;
    private final NodeBridge bridge;
    private final Settings settings;
    private final PeerRoutes routes;
    private final SnatTable snat;
    private Map<Aspect, String> problems = Map.of();

    public HostNetworkReconciler(HostCommands host, NodeBridge bridge, Settings settings) {
        this.host = host;
        this.bridge = bridge;
        this.settings = settings;
        this.routes = new PeerRoutes(host);
        this.snat = new SnatTable(host);
    }

    /** Reconciles every aspect without node ports; returns the problems found (empty when all is in place). */
    public Map<Aspect, String> reconcile(NodeNetwork node, List<PeerNodesChanged.Peer> peers) {
        return reconcile(node, peers, List.of());
    }

    /**
     * Reconciles every aspect; returns the problems found (empty when all is in place).
     *
     * @param nodePorts the NodePort Services' node ports, steered into the gateway ({@link NodePortSteering})
     */
    public Map<Aspect, String> reconcile(NodeNetwork node, List<PeerNodesChanged.Peer> peers,
                                         List<NodePortSteering.NodePort> nodePorts) {
        Map<Aspect, String> found = new EnumMap<>(Aspect.class);
        step(found, Aspect.BRIDGE, bridge::ensureBridge);
        step(found, Aspect.TUNNEL, bridge::ensureTunnel);
        step(found, Aspect.FORWARDING, () -> {
            if (!"1".equals(host.readSysctl(IP_FORWARD))) {
                try {
                    host.writeSysctl(IP_FORWARD, "1");
                } catch (java.nio.file.FileSystemException e) {
                    // The bundle's agent is not privileged: its /proc/sys is read-only, the node-sysctls init
                    // container sets forwarding before it starts. Something turned it off since.
                    throw new java.io.IOException("net.ipv4.ip_forward is 0 and the agent cannot set it (" + e.getMessage()
                            + "): the weft-agent pod's init container node-sysctls sets it when the pod starts; set it on"
                            + " the node (sysctl -w net.ipv4.ip_forward=1) or delete the weft-agent pod", e);
                }
                LOG.infof("IPv4 forwarding enabled%s", host.netns().map(ns -> " in netns " + ns).orElse(""));
            }
            return null;
        });
        step(found, Aspect.GATEWAY, () -> {
            int ofport = bridge.ensureGateway(node.gatewayMac(), node.mtu());
            GatewayInterface.configure(host, node.gatewayIfName(), node.gatewayMac(), node.mtu(), gatewayAddress(node));
            NodePortSteering.routeIntoGateway(host, node.gatewayIfName());
            if (ofport != node.gatewayOfport()) {
                // Recreated (someone deleted it) on another port: the pipeline's gateway flows name the old one.
                throw new java.io.IOException("gateway " + node.gatewayIfName() + " is now OpenFlow port " + ofport
                        + ", the datapath uses " + node.gatewayOfport() + ": restart the agent");
            }
            return null;
        });
        step(found, Aspect.ROUTES, () -> {
            List<String> conflicts = new ArrayList<>();
            List<PeerRoutes.PeerRoute> desired = new ArrayList<>(PeerRoutes.desired(peers, conflicts));
            settings.serviceCidr().ifPresent(svc -> desired.add(serviceRoute(svc, node, desired, conflicts)));
            desired.removeIf(java.util.Objects::isNull);
            PeerRoutes.Outcome o = routes.reconcile(node.gatewayIfName(), desired);
            conflicts.addAll(o.conflicts());
            if (!o.installed().isEmpty() || !o.removed().isEmpty()) {
                LOG.infof("peer routes via %s: installed %s, removed %s", node.gatewayIfName(), o.installed(), o.removed());
            }
            if (!conflicts.isEmpty()) {
                throw new NodeNetworkConflict(String.join("; ", conflicts));
            }
            return null;
        });
        step(found, Aspect.SNAT, () -> {
            switch (settings.snat()) {
                case OFF -> {
                    snat.remove();
                    return null;
                }
                case UNAVAILABLE -> throw new java.io.IOException(NFT_MISSING);
                case MASQUERADE -> {
                    // below
                }
            }
            SnatTable.Result r = snat.reconcile(snatRules(node, peers, nodePorts));
            if (r == SnatTable.Result.RESTORED) {
                LOG.warnf("nftables table %s %s was changed by someone else: restored", SnatTable.FAMILY, SnatTable.NAME);
            } else if (r == SnatTable.Result.INSTALLED) {
                LOG.infof("nftables table %s %s installed", SnatTable.FAMILY, SnatTable.NAME);
            }
            return null;
        });
        problems = Collections.unmodifiableMap(found);
        return problems;
    }

    /**
     * The Service CIDR into the gateway, as Antrea routes it with proxyAll: via the switch's virtual address (whose
     * permanent neighbour entry the gateway aspect keeps: the host never ARPs for a cluster IP) with the gateway's
     * address as source. The switch's Service tables then choose the endpoint as for a pod, and the endpoint, local or
     * behind the tunnel on another node, answers an address of this node's pod CIDR: the reply comes back into this
     * switch, whose conntrack undoes the DNAT. Null (and a conflict) when the Service CIDR overlaps a pod CIDR.
     */
    private static PeerRoutes.PeerRoute serviceRoute(IpPrefix svc, NodeNetwork node, List<PeerRoutes.PeerRoute> peerRoutes,
                                                    List<String> conflicts) {
        List<String> pods = new ArrayList<>(node.podCidrs());
        peerRoutes.forEach(r -> pods.add(r.cidr()));
        for (String c : pods) {
            IpPrefix pod = IpPrefix.parseContaining(c);
            if (pod.family() == AddressFamily.IPV4 && pod.overlaps(svc)) {
                conflicts.add("service CIDR " + svc + " overlaps the pod CIDR " + pod + "; not routed");
                return null;
            }
        }
        return serviceRoute(svc, node.gatewayIps().get(0));
    }

    /** The Service CIDR's route: via the switch's virtual address, from the gateway's address {@code gatewayIp}. */
    public static PeerRoutes.PeerRoute serviceRoute(IpPrefix svc, String gatewayIp) {
        return new PeerRoutes.PeerRoute(svc.toString(), NodePortSteering.CLUSTER_VIP, gatewayIp);
    }

    /** The SNAT rules for this node and its peers, with the NodePort steering. */
    SnatTable.Rules snatRules(NodeNetwork node, List<PeerNodesChanged.Peer> peers, List<NodePortSteering.NodePort> nodePorts) {
        Set<String> cluster = new LinkedHashSet<>(settings.clusterCidrs());
        if (cluster.isEmpty()) {
            cluster.addAll(node.podCidrs());
            peers.forEach(p -> cluster.addAll(p.podCidrs()));
        }
        return new SnatTable.Rules(node.podCidrs(), List.copyOf(cluster),
                new SnatTable.NodePorts(node.gatewayIfName(), nodePorts), settings.serviceCidr().map(IpPrefix::toString).orElse(null));
    }

    private static String gatewayAddress(NodeNetwork n) {
        IpPrefix v4 = n.podCidrs().stream().map(IpPrefix::parseContaining)
                .filter(p -> p.family() == AddressFamily.IPV4).findFirst().orElseThrow();
        return new InterfaceAddress(IpAddress.parse(n.gatewayIps().get(0)), v4.prefixLength()).toString();
    }

    private interface Step {
        Object run() throws Exception;
    }

    /** Runs one aspect, recording its problem; logs a problem when it first appears, not on every pass. */
    private void step(Map<Aspect, String> found, Aspect aspect, Step step) {
        try {
            step.run();
            if (problems.containsKey(aspect)) {
                LOG.infof("node network %s: in place again", aspect.name().toLowerCase());
            }
        } catch (Exception e) {
            String why = e.getMessage() == null ? e.toString() : e.getMessage();
            found.put(aspect, why);
            if (!why.equals(problems.get(aspect))) {
                LOG.warnf("node network %s: %s", aspect.name().toLowerCase(), why);
            }
        }
    }
}
