package dev.weft.policy.status;

import dev.weft.policy.PolicyConfig;
import io.fabric8.kubernetes.client.KubernetesClient;
import io.fabric8.kubernetes.client.extended.leaderelection.LeaderCallbacks;
import io.fabric8.kubernetes.client.extended.leaderelection.LeaderElectionConfigBuilder;
import io.fabric8.kubernetes.client.extended.leaderelection.resourcelock.LeaseLock;
import io.quarkus.runtime.ShutdownEvent;
import jakarta.enterprise.context.ApplicationScoped;
import jakarta.enterprise.event.Observes;
import org.eclipse.microprofile.config.inject.ConfigProperty;
import org.jboss.logging.Logger;

import java.net.InetAddress;
import java.util.List;
import java.util.Optional;
import java.util.UUID;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.CopyOnWriteArrayList;
import java.util.concurrent.Executors;
import java.util.concurrent.RejectedExecutionException;
import java.util.concurrent.ScheduledExecutorService;
import java.util.concurrent.TimeUnit;

/**
 * Which replica writes status: a coordination.k8s.io/v1 Lease held through fabric8's {@code LeaderElector}, as in
 * ipam-service. The Lease's holder identity is {@code <advertise address>#<random>}, so every replica also learns where
 * the leader's gRPC API is (followers forward their agents' reports there). With election disabled this replica is
 * always the leader.
 */
@ApplicationScoped
public class Leadership {

    private static final Logger LOG = Logger.getLogger(Leadership.class);

    private final KubernetesClient client;
    private final PolicyConfig config;
    private final String identity;
    private final ScheduledExecutorService retry = Executors.newSingleThreadScheduledExecutor(
            Thread.ofPlatform().daemon().name("policy-leader-election").factory());
    private final List<Runnable> listeners = new CopyOnWriteArrayList<>();
    private volatile boolean leading;
    private volatile String holder = "";
    private volatile boolean closed;
    private volatile CompletableFuture<?> election;

    Leadership(KubernetesClient client, PolicyConfig config, @ConfigProperty(name = "quarkus.http.port") int httpPort) {
        this.client = client;
        this.config = config;
        String address = config.advertiseAddress().filter(a -> !a.isBlank()).orElseGet(() -> defaultHost() + ":" + httpPort);
        this.identity = address + "#" + UUID.randomUUID().toString().substring(0, 8);
    }

    private static String defaultHost() {
        String ip = System.getenv("POD_IP");
        if (ip != null && !ip.isBlank()) {
            return ip;
        }
        try {
            return InetAddress.getLocalHost().getHostName();
        } catch (Exception e) {
            return "localhost";
        }
    }

    /** Joins the election (or leads at once when it is disabled). */
    public synchronized void start() {
        if (!config.leaderElection().enabled()) {
            LOG.infof("policy-service %s writes status without leader election", identity);
            holder = identity;
            leading = true;
            listeners.forEach(Runnable::run);
            return;
        }
        elect();
    }

    private void elect() {
        if (closed) {
            return;
        }
        PolicyConfig.LeaderElection le = config.leaderElection();
        var lec = new LeaderElectionConfigBuilder()
                .withName(le.leaseName())
                .withLock(new LeaseLock(le.leaseNamespace(), le.leaseName(), identity))
                .withLeaseDuration(le.leaseDuration())
                .withRenewDeadline(le.renewDeadline())
                .withRetryPeriod(le.retryPeriod())
                .withReleaseOnCancel(true)
                .withLeaderCallbacks(new LeaderCallbacks(this::startedLeading, this::stoppedLeading, this::newLeader))
                .build();
        CompletableFuture<?> f = client.leaderElector().withConfig(lec).build().start();
        election = f;
        // The elector returns once leadership is lost or could not be renewed: stand again, unless closing.
        f.whenComplete((v, t) -> {
            if (!closed && !f.isCancelled()) {
                try {
                    retry.schedule(this::elect, le.retryPeriod().toMillis(), TimeUnit.MILLISECONDS);
                } catch (RejectedExecutionException e) {
                    // closing
                }
            }
        });
    }

    private void startedLeading() {
        LOG.infof("policy-service %s became leader: it writes realization status", identity);
        leading = true;
        listeners.forEach(Runnable::run);
    }

    private void stoppedLeading() {
        if (leading) {
            LOG.infof("policy-service %s stopped leading", identity);
        }
        leading = false;
        listeners.forEach(Runnable::run);
    }

    private void newLeader(String id) {
        holder = id == null ? "" : id;
        LOG.debugf("policy-service leader is now %s", holder);
        listeners.forEach(Runnable::run);
    }

    /** Runs after every change of who leads (on the elector's thread: keep it short). */
    public void onChange(Runnable r) {
        listeners.add(r);
    }

    public boolean isLeader() {
        return leading;
    }

    public String identity() {
        return identity;
    }

    /** The Lease holder's identity, empty while unknown. */
    public String holder() {
        return holder;
    }

    /** host:port of the leader's gRPC API, when another replica leads. */
    public Optional<String> otherLeaderAddress() {
        String h = holder;
        if (leading || h.isEmpty() || h.equals(identity)) {
            return Optional.empty();
        }
        int hash = h.lastIndexOf('#');
        return Optional.of(hash > 0 ? h.substring(0, hash) : h);
    }

    void stop(@Observes ShutdownEvent ev) {
        closed = true;
        leading = false;
        CompletableFuture<?> f = election;
        if (f != null) {
            f.cancel(true); // releases the Lease: a follower takes over at once
        }
        retry.shutdownNow();
    }
}
