package dev.weft.agent.pipeline;

import dev.weft.agent.AgentConfig;
import dev.weft.agent.host.NodeBridge;
import dev.weft.agent.host.PeerNodesChanged;
import dev.weft.net.AddressFamily;
import dev.weft.net.AddressFormatException;
import dev.weft.net.IpPrefix;
import dev.weft.net.IpAddress;
import io.fabric8.kubernetes.api.model.Node;
import io.fabric8.kubernetes.api.model.NodeAddress;
import io.fabric8.kubernetes.client.KubernetesClient;
import io.fabric8.kubernetes.client.informers.ResourceEventHandler;
import io.fabric8.kubernetes.client.informers.SharedIndexInformer;
import io.quarkus.runtime.ShutdownEvent;
import io.quarkus.runtime.StartupEvent;
import jakarta.enterprise.context.ApplicationScoped;
import jakarta.enterprise.event.Event;
import jakarta.enterprise.event.Observes;
import jakarta.enterprise.inject.Instance;
import jakarta.inject.Inject;
import org.jboss.logging.Logger;

import java.util.ArrayList;
import java.util.List;
import java.util.Optional;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;

/**
 * Routes to the other nodes' pods: a Node informer gives each peer's pod CIDRs ({@code spec.podCIDRs}) and InternalIP;
 * the tunnel port ({@code agent.tunnel-type}, {@code remote_ip=flow}) is created through OVSDB when the first peer
 * appears, and {@link PeerNodesFeature#update} installs one L3 route per peer CIDR with {@code tun_dst} = the peer's IP.
 */
@ApplicationScoped
public class PeerNodeWatcher {

    private static final Logger LOG = Logger.getLogger(PeerNodeWatcher.class);

    @Inject
    AgentConfig config;

    @Inject
    DatapathService datapath;

    @Inject
    Instance<KubernetesClient> kubernetes;

    @Inject
    Instance<NodeBridge> bridge;

    @Inject
    Event<PeerNodesChanged> peerNodesChanged;

    private final ExecutorService worker = Executors.newSingleThreadExecutor(r -> {
        Thread t = new Thread(r, "peer-nodes");
        t.setDaemon(true);
        return t;
    });
    private volatile SharedIndexInformer<Node> informer;

    void onStart(@Observes StartupEvent e) {
        datapath.datapath().onNodeNetwork(() -> worker.execute(this::sync));
        datapath.datapath().onReady(() -> worker.execute(this::sync));
        try {
            SharedIndexInformer<Node> inf = kubernetes.get().nodes().runnableInformer(0);
            inf.addEventHandler(new ResourceEventHandler<>() {
                public void onAdd(Node n) {
                    worker.execute(PeerNodeWatcher.this::sync);
                }

                public void onUpdate(Node o, Node n) {
                    worker.execute(PeerNodeWatcher.this::sync);
                }

                public void onDelete(Node n, boolean unknown) {
                    worker.execute(PeerNodeWatcher.this::sync);
                }
            });
            informer = inf;
            inf.start().whenComplete((v, err) -> {
                if (err != null) {
                    LOG.warnf("Node informer: %s", err.getMessage());
                }
            });
        } catch (RuntimeException ex) {
            LOG.warnf("no Node informer (peer-node routes unavailable): %s", ex.getMessage());
        }
    }

    void onStop(@Observes ShutdownEvent e) {
        SharedIndexInformer<Node> inf = informer;
        if (inf != null) {
            inf.stop();
        }
        worker.shutdownNow();
    }

    /** Peers as the informer sees them (other nodes with pod CIDRs and an InternalIP). */
    static List<PeerNodesFeature.PeerNode> peers(List<Node> nodes, String self) {
        List<PeerNodesFeature.PeerNode> out = new ArrayList<>();
        for (Node n : nodes) {
            String name = n.getMetadata().getName();
            if (name.equals(self) || n.getSpec() == null) {
                continue;
            }
            List<String> cidrs = n.getSpec().getPodCIDRs() != null && !n.getSpec().getPodCIDRs().isEmpty()
                    ? n.getSpec().getPodCIDRs()
                    : n.getSpec().getPodCIDR() == null ? List.of() : List.of(n.getSpec().getPodCIDR());
            Optional<String> ip = n.getStatus() == null || n.getStatus().getAddresses() == null ? Optional.empty()
                    : n.getStatus().getAddresses().stream().filter(a -> "InternalIP".equals(a.getType()))
                    .map(NodeAddress::getAddress)
                    .filter(a -> IpAddress.tryParse(a).filter(parsed -> parsed.family() == AddressFamily.IPV4).isPresent())
                    .findFirst();
            cidrs = cidrs.stream().filter(c -> validCidr(name, c)).toList();
            if (!cidrs.isEmpty() && ip.isPresent()) {
                out.add(new PeerNodesFeature.PeerNode(name, cidrs, ip.get()));
            }
        }
        out.sort((a, b) -> a.name().compareTo(b.name()));
        return out;
    }

    /** A Node's pod CIDR that does not parse is left out of its routes (and said), not a reason to drop every peer. */
    private static boolean validCidr(String node, String cidr) {
        try {
            IpPrefix.parseContaining(cidr);
            return true;
        } catch (AddressFormatException e) {
            LOG.warnf("Node %s: pod CIDR ignored: %s", node, e.getMessage());
            return false;
        }
    }

    private void sync() {
        SharedIndexInformer<Node> inf = informer;
        Datapath dp = datapath.datapath();
        if (inf == null || dp.nodeNetwork() == null || !dp.isReady()) {
            return;
        }
        try {
            List<PeerNodesFeature.PeerNode> peers = peers(inf.getStore().list(), config.resolvedNodeName());
            // The host side routes the same peers (dev.weft.agent.host.NodeHostNetwork).
            peerNodesChanged.fire(new PeerNodesChanged(peers.stream()
                    .map(p -> new PeerNodesChanged.Peer(p.name(), p.podCidrs(), p.nodeIp())).toList()));
            if (peers.isEmpty()) {
                dp.feature(PeerNodesFeature.class).update(0, List.of());
            } else {
                dp.feature(PeerNodesFeature.class).update(tunnelOfport(), peers);
            }
            if (inf.hasSynced()) {
                datapath.restartStepDone(DatapathService.RestartStep.PEER_NODES);
            }
        } catch (Exception ex) {
            LOG.warnf("peer-node routes not installed: %s", ex.getMessage());
        }
    }

    private int tunnelOfport() throws Exception {
        return bridge.get().ensureTunnel();
    }
}
