package dev.weft.policy.status;

import dev.weft.policy.PolicyConfig;
import dev.weft.security.auth.BearerTokenFile;
import dev.weft.proto.controlplane.v1.ControlPlaneGrpc;
import dev.weft.proto.controlplane.v1.GetPolicyStatusRequest;
import dev.weft.proto.controlplane.v1.NodeRealizationReport;
import dev.weft.proto.controlplane.v1.PolicyStatusList;
import dev.weft.security.tls.ClientTls;
import dev.weft.security.tls.ReloadableTrustManager;
import dev.weft.security.tls.ServingTls;
import io.grpc.ManagedChannel;
import io.grpc.ManagedChannelBuilder;
import io.grpc.StatusRuntimeException;
import io.quarkus.runtime.ShutdownEvent;
import jakarta.enterprise.context.ApplicationScoped;
import jakarta.enterprise.event.Observes;
import org.eclipse.microprofile.config.inject.ConfigProperty;
import org.jboss.logging.Logger;

import java.util.LinkedHashSet;
import java.util.Map;
import java.util.Optional;
import java.util.Set;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.TimeUnit;

/**
 * Gets the realization reports of a follower's agents to the leader, which alone writes status. A replica speaks for
 * the agents whose policy stream it serves: it keeps the latest report of each such node, sends it to the leader
 * (newest only, one at a time, retried), and sends them all again whenever the leader changes. When an agent's stream
 * ends here its report is dropped: the agent reconnects elsewhere and reports there, so an old copy can never overtake
 * a newer report. Reports of nodes without a stream here are recorded but never forwarded (no forwarding loops).
 */
@ApplicationScoped
public class ReportForwarder {

    private static final Logger LOG = Logger.getLogger(ReportForwarder.class);

    private final Leadership leadership;
    private final PolicyConfig config;
    /** Open streams per node on this replica (an agent may briefly have two while it reconnects). */
    private final Map<String, Integer> streams = new ConcurrentHashMap<>();
    /** Latest report of each node whose stream is here. */
    private final Map<String, NodeRealizationReport> own = new ConcurrentHashMap<>();
    private final Set<String> unsent = new LinkedHashSet<>();
    private final Object lock = new Object();
    private volatile boolean running = true;
    private Thread sender;
    private ManagedChannel channel;
    private String channelTarget = "";
    /** This replica's token for the leader (it authenticates as a peer that may speak for any node). */
    private final Optional<BearerTokenFile> forwardToken;
    private final Optional<ServingTls> tls;

    ReportForwarder(Leadership leadership, PolicyConfig config, ServingTls servingTls,
            @ConfigProperty(name = "quarkus.http.tls-configuration-name") Optional<String> tlsConfiguration) {
        this.leadership = leadership;
        this.config = config;
        this.forwardToken = config.forwardTokenFile().map(BearerTokenFile::new);
        // The leader serves what this replica serves: TLS with a certificate from the same CA, or (tests) plaintext.
        this.tls = tlsConfiguration.filter(n -> !n.isBlank()).map(n -> servingTls);
        leadership.onChange(this::resendAll);
    }

    public void streamOpened(String node) {
        streams.merge(node, 1, Integer::sum);
    }

    public void streamClosed(String node) {
        if (streams.merge(node, -1, (a, b) -> a + b <= 0 ? null : a + b) == null) {
            own.remove(node);
            synchronized (lock) {
                unsent.remove(node);
            }
        }
    }

    /** A report an agent sent to this replica; forwarded when another replica leads and the node's stream is here. */
    public void received(NodeRealizationReport report) {
        if (!streams.containsKey(report.getNodeName())) {
            return;
        }
        own.put(report.getNodeName(), report);
        if (!leadership.isLeader()) {
            enqueue(Set.of(report.getNodeName()));
        }
    }

    private void resendAll() {
        if (!leadership.isLeader() && !own.isEmpty()) {
            enqueue(own.keySet());
        }
    }

    private void enqueue(Set<String> nodes) {
        synchronized (lock) {
            unsent.addAll(nodes);
            if (sender == null) {
                sender = Thread.ofPlatform().daemon().name("policy-report-forwarder").start(this::sendLoop);
            }
            lock.notifyAll();
        }
    }

    private void sendLoop() {
        long retryMillis = config.leaderElection().retryPeriod().toMillis();
        while (running) {
            String node;
            synchronized (lock) {
                while (running && unsent.isEmpty()) {
                    try {
                        lock.wait();
                    } catch (InterruptedException e) {
                        return;
                    }
                }
                if (!running) {
                    return;
                }
                node = unsent.iterator().next();
                unsent.remove(node);
            }
            NodeRealizationReport report = own.get(node);
            Optional<ControlPlaneGrpc.ControlPlaneBlockingStub> leader = leaderStub();
            if (report == null || leader.isEmpty()) {
                continue; // stream gone, or we lead now / no leader known: resendAll runs on the next change
            }
            try {
                leader.get().withDeadlineAfter(5, TimeUnit.SECONDS).reportStatus(report);
            } catch (StatusRuntimeException e) {
                LOG.debugf("forwarding the report of %s to the leader failed (%s); retrying", node, e.getStatus());
                synchronized (lock) {
                    unsent.add(node);
                    try {
                        lock.wait(retryMillis);
                    } catch (InterruptedException ie) {
                        return;
                    }
                }
            }
        }
    }

    /** The leader's status view, when another replica leads; empty when we lead or the leader cannot answer. */
    public Optional<PolicyStatusList> statusFromLeader(GetPolicyStatusRequest request) {
        Optional<ControlPlaneGrpc.ControlPlaneBlockingStub> leader = leaderStub();
        if (leader.isEmpty()) {
            return Optional.empty();
        }
        try {
            return Optional.of(leader.get().withDeadlineAfter(5, TimeUnit.SECONDS).getPolicyStatus(request));
        } catch (StatusRuntimeException e) {
            LOG.debugf("the leader could not answer GetPolicyStatus (%s): answering from this replica", e.getStatus());
            return Optional.empty();
        }
    }

    private synchronized Optional<ControlPlaneGrpc.ControlPlaneBlockingStub> leaderStub() {
        Optional<String> address = leadership.otherLeaderAddress();
        if (address.isEmpty()) {
            return Optional.empty();
        }
        if (channel == null || !channelTarget.equals(address.get())) {
            if (channel != null) {
                channel.shutdownNow();
            }
            channelTarget = address.get();
            channel = tls.isPresent()
                    ? ClientTls.channel(channelTarget, ReloadableTrustManager.of(tls.get().authorities(),
                            "this replica's CA bundle"), tls.get().serverName())
                    : ManagedChannelBuilder.forTarget(channelTarget).usePlaintext().build();
        }
        var stub = ControlPlaneGrpc.newBlockingStub(channel);
        return Optional.of(forwardToken.map(t -> stub.withInterceptors(t)).orElse(stub));
    }

    void stop(@Observes ShutdownEvent ev) {
        running = false;
        synchronized (lock) {
            lock.notifyAll();
        }
        synchronized (this) {
            if (channel != null) {
                channel.shutdownNow();
            }
        }
    }
}
