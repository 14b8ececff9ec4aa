package dev.weft.agent.cni;

import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.node.ObjectNode;
import dev.weft.agent.AgentConfig;
import dev.weft.agent.health.Watchdog;
import dev.weft.agent.health.WatchdogConfig;
import dev.weft.agent.ipam.NodeCidrSource;
import dev.weft.agent.ipam.NodeIpAllocator;
import dev.weft.agent.ipam.PodSubnet;
import dev.weft.agent.node.NodeGateway;
import dev.weft.agent.node.NodeNetwork;
import dev.weft.agent.node.PodDatapath;
import dev.weft.net.AddressFamily;
import io.quarkus.runtime.ShutdownEvent;
import io.quarkus.runtime.StartupEvent;
import jakarta.enterprise.context.ApplicationScoped;
import jakarta.enterprise.event.Observes;
import jakarta.enterprise.inject.Instance;
import jakarta.inject.Inject;
import org.jboss.logging.Logger;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardCopyOption;
import java.util.Optional;

/**
 * Brings the node's pod network up at agent start, in order: the CNI socket (so the shim gets "try again later"
 * rather than "unreachable"), the node's pod CIDR, the leases, the gateway, the datapath's node flows, reconcile of
 * leases/attachments, and finally the CNI conflist: the kubelet sees the network as ready only when it can be used.
 */
@ApplicationScoped
public class CniAgent {

    private static final Logger LOG = Logger.getLogger(CniAgent.class);
    public static final String CONFLIST = "10-weft.conflist";

    @Inject
    AgentConfig config;

    @Inject
    NodeCidrSource cidrs;

    @Inject
    NodeIpAllocator ipam;

    @Inject
    NodeGateway gateway;

    @Inject
    PodNetworkService pods;

    @Inject
    AttachmentReconciler reconciler;

    @Inject
    Instance<PodDatapath> datapath;

    @Inject
    AttachmentGc attachmentGc;

    @Inject
    Watchdog watchdog;

    @Inject
    WatchdogConfig watchdogConfig;

    @Inject
    dev.weft.agent.AgentMetrics metrics;

    private CniSocketServer server;
    private Thread init;
    private java.util.concurrent.ScheduledExecutorService leaseGc;
    private volatile String status = "starting";
    private volatile boolean conflistInstalled;
    private boolean ofportRepairRegistered;

    void start(@Observes StartupEvent ev) {
        try {
            CniService service = new CniService(pods, attachmentGc, metrics::cniRequest);
            watchdog.watch(service.heartbeat(), watchdogConfig.cniRequestBound());
            server = CniSocketServer.start(config.cniSocket(), service);
        } catch (IOException | RuntimeException e) {
            status = "cannot serve the CNI socket " + config.cniSocket() + ": " + e.getMessage();
            LOG.error(status, e);
            return;
        }
        init = Thread.ofPlatform().daemon().name("weft-node-network").start(this::bringUp);
    }

    void stop(@Observes ShutdownEvent ev) {
        if (init != null) {
            init.interrupt();
        }
        if (leaseGc != null) {
            leaseGc.shutdownNow();
        }
        if (server != null) {
            server.close();
        }
    }

    /**
     * Null when the node network is ready, otherwise what it waits for. Ready means the conflist is installed too:
     * the pod service knows the node a moment earlier, but the kubelet (and a test) must not see "ready" before it can
     * read the configuration that names our socket.
     */
    public String notReadyReason() {
        return conflistInstalled && pods.node().isPresent() ? null : status;
    }

    private void bringUp() {
        long backoff = 200;
        while (!Thread.currentThread().isInterrupted()) {
            try {
                Optional<NodeCidrSource.NodeCidrs> found = cidrs.lookup();
                if (found.isEmpty()) {
                    status = "waiting for the pod CIDR of node " + config.resolvedNodeName() + " (ipam-service / Node.spec.podCIDRs)";
                } else {
                    NodeCidrSource.NodeCidrs c = found.get();
                    PodSubnet v4 = c.cidrs().stream().filter(p -> p.family() == AddressFamily.IPV4).findFirst()
                            .map(PodSubnet::new)
                            .orElseThrow(() -> new IOException("no IPv4 pod CIDR among " + c.cidrs()
                                    + " (IPv6-only is not supported yet)"));
                    ipam.configure(v4);
                    NodeNetwork node = gateway.ensure(config.resolvedNodeName(), v4, c.cidrs(), c.nodeIp());
                    if (datapath.isResolvable()) {
                        datapath.get().nodeNetworkReady(node);
                    } else {
                        LOG.warn("no PodDatapath bean: pods get interfaces and addresses but no flows");
                    }
                    reconciler.reconcile();
                    if (datapath.isResolvable() && !ofportRepairRegistered) {
                        // from now on (the store is in line with OVSDB) every reconnection re-checks the ofports
                        datapath.get().beforeForwarding(reconciler::repairOfports);
                        ofportRepairRegistered = true;
                    }
                    if (datapath.isResolvable()) {
                        datapath.get().podsReconciled();
                    }
                    pods.nodeReady(node);
                    writeConflist();
                    conflistInstalled = true;
                    startLeaseGc();
                    status = "ready";
                    LOG.infof("node network ready: %s from %s, gateway %s (ofport %d)", c.cidrs(), c.source(),
                            node.gatewayIps(), node.gatewayOfport());
                    return;
                }
            } catch (Exception e) {
                status = "bringing up the node network failed: " + e.getMessage();
                LOG.warn(status);
            }
            try {
                Thread.sleep(backoff);
            } catch (InterruptedException e) {
                return;
            }
            backoff = Math.min(backoff * 2, 5000);
        }
    }

    /** The periodic sweep of {@link AttachmentGc}, once leases are loaded; {@code agent.lease-gc-interval} 0 turns it off. */
    private synchronized void startLeaseGc() {
        java.time.Duration every = config.leaseGcInterval();
        if (leaseGc != null || every.isZero() || every.isNegative()) {
            return;
        }
        leaseGc = java.util.concurrent.Executors.newSingleThreadScheduledExecutor(
                Thread.ofPlatform().daemon().name("weft-lease-gc").factory());
        leaseGc.scheduleWithFixedDelay(() -> {
            try {
                attachmentGc.sweep();
            } catch (CniFailure | RuntimeException e) {
                LOG.warnf("lease GC failed (next try in %s): %s", every, e.getMessage());
            }
        }, every.toMillis(), every.toMillis(), java.util.concurrent.TimeUnit.MILLISECONDS);
    }

    /** The conflist the kubelet reads; names our plugin type and the socket the shim must call. */
    public String conflist() {
        ObjectMapper json = new ObjectMapper();
        // 1.1.0: runtimes call GC (and STATUS) only for configurations of that version.
        ObjectNode root = json.createObjectNode().put("cniVersion", "1.1.0").put("name", "weft");
        ObjectNode plugin = root.putArray("plugins").addObject();
        plugin.put("type", "weft").put("agentSocket", config.cniSocket().toString()).put("mtu", pods.node().map(NodeNetwork::mtu).orElse(NodeNetwork.DEFAULT_MTU));
        try {
            return json.writerWithDefaultPrettyPrinter().writeValueAsString(root) + "\n";
        } catch (IOException e) {
            throw new IllegalStateException(e);
        }
    }

    void writeConflist() throws IOException {
        Path dir = config.cniConfDir();
        Files.createDirectories(dir);
        Path tmp = dir.resolve("." + CONFLIST + ".tmp");
        Files.writeString(tmp, conflist());
        Files.move(tmp, dir.resolve(CONFLIST), StandardCopyOption.ATOMIC_MOVE, StandardCopyOption.REPLACE_EXISTING);
        LOG.infof("installed %s", dir.resolve(CONFLIST));
    }
}
