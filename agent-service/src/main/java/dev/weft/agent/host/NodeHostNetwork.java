package dev.weft.agent.host;

import dev.weft.agent.AgentConfig;
import dev.weft.agent.host.HostNetworkReconciler.Aspect;
import dev.weft.agent.node.NodeNetwork;
import dev.weft.net.AddressFamily;
import dev.weft.net.IpPrefix;
import io.quarkus.runtime.ShutdownEvent;
import io.quarkus.runtime.StartupEvent;
import jakarta.enterprise.context.ApplicationScoped;
import jakarta.enterprise.event.Observes;
import jakarta.inject.Inject;
import org.jboss.logging.Logger;

import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Optional;
import java.util.concurrent.Executors;
import java.util.concurrent.RejectedExecutionException;
import java.util.concurrent.ScheduledExecutorService;
import java.util.concurrent.TimeUnit;

/**
 * The node's host side, kept in place: the bridge's settings and the tunnel port ({@link NodeBridge}), IPv4
 * forwarding, the gateway's address, routes to the peers' pod CIDRs ({@link PeerRoutes}) and SNAT
 * ({@link SnatTable}). Reconciled from the sources of truth — this node's network (once {@code NodeGateway} brought it
 * up) and the peers ({@link PeerNodesChanged}) — when either changes and every {@code agent.host-network-resync-seconds},
 * on one thread. Each aspect records its problem; {@link #notReadyReason()} feeds the {@code node-network} readiness
 * check. A failing aspect never stops the others: pods reach each other without SNAT, the outside without routes.
 */
@ApplicationScoped
public class NodeHostNetwork {

    private static final Logger LOG = Logger.getLogger(NodeHostNetwork.class);

    @Inject
    AgentConfig config;

    @Inject
    NodeBridge bridge;

    private HostCommands host;
    private HostNetworkReconciler reconciler;
    private volatile String nftMissing;
    private volatile NodeNetwork node;
    private volatile List<PeerNodesChanged.Peer> peers = List.of();
    private volatile List<NodePortSteering.NodePort> nodePorts = List.of();
    private volatile Map<Aspect, String> problems = Map.of();
    private ScheduledExecutorService loop;

    void onStart(@Observes StartupEvent e) {
        host = new HostCommands(config.nodeNetns());
        HostNetworkReconciler.Snat snat = HostNetworkReconciler.Snat.MASQUERADE;
        if (config.noSnat()) {
            snat = HostNetworkReconciler.Snat.OFF;
        } else if (HostCommands.findExecutable("nft").isEmpty()) {
            // Checked once at start, so that a node without nftables says so from the first readiness probe.
            snat = HostNetworkReconciler.Snat.UNAVAILABLE;
            nftMissing = HostNetworkReconciler.NFT_MISSING;
            LOG.error("SNAT unavailable: " + nftMissing);
        }
        reconciler = new HostNetworkReconciler(host, bridge,
                new HostNetworkReconciler.Settings(snat, config.clusterCidrs().orElse(List.of()), serviceCidr(config.serviceCidr())));
        loop = Executors.newSingleThreadScheduledExecutor(r -> Thread.ofPlatform().daemon().name("node-host-network").unstarted(r));
        int every = Math.max(1, config.hostNetworkResyncSeconds());
        loop.scheduleWithFixedDelay(this::reconcileQuietly, every, every, TimeUnit.SECONDS);
    }

    /** {@code agent.service-cidr}, parsed strictly: a bad value stops the agent at start with the key named. */
    static Optional<IpPrefix> serviceCidr(Optional<String> value) {
        Optional<String> text = value.map(String::strip).filter(s -> !s.isEmpty());
        if (text.isEmpty()) {
            return Optional.empty();
        }
        IpPrefix prefix;
        try {
            prefix = IpPrefix.parse(text.get());
        } catch (IllegalArgumentException e) {
            throw new IllegalArgumentException("agent.service-cidr: " + e.getMessage(), e);
        }
        if (prefix.family() != AddressFamily.IPV4) {
            throw new IllegalArgumentException("agent.service-cidr: " + prefix + " is IPv6; only an IPv4 Service CIDR is routed");
        }
        return Optional.of(prefix);
    }

    void onStop(@Observes ShutdownEvent e) {
        if (loop != null) {
            loop.shutdownNow();
        }
    }

    /** The node namespace's tools (for {@code NodeGateway}, which configures the gateway at bring-up). */
    public HostCommands commands() {
        return host;
    }

    /** This node's network is up (bridge, gateway port): start keeping the host side in place. */
    public void nodeUp(NodeNetwork network) {
        node = network;
        trigger();
    }

    /** The bring-up could not set up the bridge: reported until it can. */
    public void bridgeProblem(String why) {
        Map<Aspect, String> p = new LinkedHashMap<>(problems);
        p.put(Aspect.BRIDGE, why);
        problems = Map.copyOf(p);
    }

    void onPeers(@Observes PeerNodesChanged event) {
        peers = event.peers();
        trigger();
    }

    void onNodePorts(@Observes NodePortsChanged event) {
        if (!event.nodePorts().equals(nodePorts)) {
            nodePorts = event.nodePorts();
            trigger();
        }
    }

    private void trigger() {
        try {
            if (loop != null) {
                loop.execute(this::reconcileQuietly);
            }
        } catch (RejectedExecutionException e) {
            // shutting down
        }
    }

    /** Null when every aspect is in place, otherwise what is not and why. */
    public String notReadyReason() {
        List<String> why = new ArrayList<>();
        problems.forEach((a, p) -> why.add(a.name().toLowerCase() + ": " + p));
        if (node == null) {
            if (nftMissing != null) {
                why.add("snat: " + nftMissing);
            }
            why.add("waiting for the node network (pod CIDR, bridge, gateway: see cni-node-network)");
        }
        return why.isEmpty() ? null : String.join("; ", why);
    }

    /** Per aspect: "ok", "pending" (node network not up yet) or its problem (for the readiness data). */
    public Map<String, String> status() {
        Map<String, String> out = new LinkedHashMap<>();
        Map<Aspect, String> p = problems;
        for (Aspect a : Aspect.values()) {
            String problem = p.get(a);
            if (problem == null && a == Aspect.SNAT && node == null) {
                problem = nftMissing;
            }
            out.put(a.name().toLowerCase(), problem != null ? problem : node == null ? "pending" : "ok");
        }
        return out;
    }

    private void reconcileQuietly() {
        try {
            reconcile();
        } catch (RuntimeException e) {
            LOG.warnf(e, "node host network reconcile failed");
        }
    }

    /** One pass over every aspect, on the loop thread. */
    private void reconcile() {
        NodeNetwork n = node;
        if (n != null) {
            problems = reconciler.reconcile(n, peers, nodePorts);
        }
    }
}
