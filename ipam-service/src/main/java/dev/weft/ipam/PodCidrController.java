package dev.weft.ipam;

import dev.weft.net.IpPrefix;
import dev.weft.proto.ipam.v1.AllocationState;
import io.fabric8.kubernetes.api.model.EventBuilder;
import io.fabric8.kubernetes.api.model.Node;
import io.fabric8.kubernetes.api.model.NodeBuilder;
import io.fabric8.kubernetes.api.model.NodeCondition;
import io.fabric8.kubernetes.api.model.NodeConditionBuilder;
import io.fabric8.kubernetes.api.model.ObjectReferenceBuilder;
import io.fabric8.kubernetes.client.KubernetesClient;
import io.fabric8.kubernetes.client.KubernetesClientException;
import io.fabric8.kubernetes.client.extended.leaderelection.LeaderCallbacks;
import io.fabric8.kubernetes.client.extended.leaderelection.LeaderElectionConfigBuilder;
import io.fabric8.kubernetes.client.extended.leaderelection.resourcelock.LeaseLock;
import io.fabric8.kubernetes.client.informers.ResourceEventHandler;
import io.fabric8.kubernetes.client.informers.SharedIndexInformer;
import org.jboss.logging.Logger;

import java.net.InetAddress;
import java.time.Duration;
import java.time.Instant;
import java.time.temporal.ChronoUnit;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import java.util.Objects;
import java.util.UUID;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.Executors;
import java.util.concurrent.RejectedExecutionException;
import java.util.concurrent.ScheduledExecutorService;
import java.util.concurrent.TimeUnit;

/**
 * Node IPAM controller, as kube-controller-manager's range allocator: every replica feeds its {@link NodeCidrAllocator}
 * from a Node informer (so every replica answers queries), and only the holder of the Lease writes:
 * {@code spec.podCIDR}/{@code spec.podCIDRs} of Nodes that have none, with optimistic locking, and an Event plus a
 * {@code PodCIDRAllocated=False} condition for a Node it cannot serve.
 *
 * <p>All allocator mutations run on one worker thread, so no two decisions race. On becoming leader the worker first
 * rebuilds the allocator from a fresh list of Nodes: whatever the previous leader wrote is seen before anything new is
 * handed out.
 */
public final class PodCidrController implements AutoCloseable {
    private static final Logger LOG = Logger.getLogger(PodCidrController.class);

    public static final String CONDITION_TYPE = "PodCIDRAllocated";
    public static final String REASON_EXHAUSTED = "PoolExhausted";
    public static final String REASON_CONFLICT = "CIDRConflict";
    public static final String REASON_ALLOCATED = "PodCIDRAssigned";
    static final String COMPONENT = "weft-ipam";
    private static final int MAX_WRITE_ATTEMPTS = 5;

    /** How this replica takes part. */
    public record Options(boolean readOnly, boolean leaderElection, String leaseName, String leaseNamespace,
                          String identity, Duration leaseDuration, Duration renewDeadline, Duration retryPeriod,
                          String eventNamespace) {
        public Options {
            Objects.requireNonNull(identity, "identity");
            if (leaderElection && !readOnly && renewDeadline.compareTo(leaseDuration) >= 0) {
                throw new IllegalArgumentException("ipam.leader-election.renew-deadline (" + renewDeadline
                        + ") must be shorter than ipam.leader-election.lease-duration (" + leaseDuration + ")");
            }
        }

        public static Options from(IpamConfig c) {
            IpamConfig.LeaderElection le = c.leaderElection();
            return new Options(c.readOnly(), le.enabled(), le.leaseName(), le.leaseNamespace(),
                    le.identity().orElseGet(PodCidrController::defaultIdentity), le.leaseDuration(), le.renewDeadline(),
                    le.retryPeriod(), c.eventNamespace());
        }
    }

    static String defaultIdentity() {
        String host = System.getenv("HOSTNAME");
        if (host == null || host.isBlank()) {
            try {
                host = InetAddress.getLocalHost().getHostName();
            } catch (Exception e) {
                host = "ipam";
            }
        }
        return host + "-" + UUID.randomUUID().toString().substring(0, 8);
    }

    private final KubernetesClient client;
    private final SharedIndexInformer<Node> informer;
    private final NodeCidrAllocator allocator;
    private final Options options;
    private final ScheduledExecutorService worker;
    private final ResourceEventHandler<Node> handler;
    private volatile boolean leading;      // the Lease is ours (set by the elector's callbacks)
    private volatile boolean allocating;   // leading, and the allocator was rebuilt for this term (worker thread)
    private volatile String currentLeader = "";
    private volatile boolean closed;
    private volatile CompletableFuture<?> election;
    private long releasesSeen;
    /** Problem last reported per Node in this term: the informer's copy may not show our condition yet. */
    private final Map<String, String> reported = new HashMap<>();

    public PodCidrController(KubernetesClient client, SharedIndexInformer<Node> informer, NodeCidrAllocator allocator,
                             Options options) {
        this.client = client;
        this.informer = informer;
        this.allocator = allocator;
        this.options = options;
        this.worker = Executors.newSingleThreadScheduledExecutor(r -> {
            Thread t = new Thread(r, "weft-ipam-allocator-" + options.identity());
            t.setDaemon(true);
            return t;
        });
        this.handler = new ResourceEventHandler<>() {
            @Override
            public void onAdd(Node node) {
                enqueue(node.getMetadata().getName());
            }

            @Override
            public void onUpdate(Node oldNode, Node newNode) {
                enqueue(newNode.getMetadata().getName());
            }

            @Override
            public void onDelete(Node node, boolean deletedFinalStateUnknown) {
                enqueue(node.getMetadata().getName());
            }
        };
    }

    /** Registers with the informer (which replays the Nodes it already has) and joins the election. */
    public PodCidrController start() {
        informer.addEventHandler(handler);
        if (options.readOnly()) {
            LOG.infof("IPAM replica %s is read-only: it answers queries and never allocates", options.identity());
        } else if (options.leaderElection()) {
            elect();
        } else {
            LOG.infof("IPAM replica %s allocates without leader election", options.identity());
            leading = true;
            worker.execute(this::beginTerm);
        }
        return this;
    }

    private void elect() {
        if (closed) {
            return;
        }
        var config = new LeaderElectionConfigBuilder()
                .withName(options.leaseName())
                .withLock(new LeaseLock(options.leaseNamespace(), options.leaseName(), options.identity()))
                .withLeaseDuration(options.leaseDuration())
                .withRenewDeadline(options.renewDeadline())
                .withRetryPeriod(options.retryPeriod())
                .withReleaseOnCancel(true)
                .withLeaderCallbacks(new LeaderCallbacks(this::onStartLeading, this::onStopLeading, this::onNewLeader))
                .build();
        CompletableFuture<?> f = client.leaderElector().withConfig(config).build().start();
        election = f;
        // The elector returns once leadership is lost (or could not be renewed): stand again, unless closing.
        f.whenComplete((v, t) -> {
            if (!closed && !f.isCancelled()) {
                if (t != null) {
                    LOG.warnf(t, "Leader election of %s ended; standing again", options.identity());
                }
                try {
                    worker.schedule(this::elect, options.retryPeriod().toMillis(), TimeUnit.MILLISECONDS);
                } catch (RejectedExecutionException e) {
                    // closing
                }
            }
        });
    }

    private void onStartLeading() {
        if (closed) {
            return;
        }
        LOG.infof("IPAM replica %s became leader (Lease %s/%s)", options.identity(), options.leaseNamespace(),
                options.leaseName());
        leading = true;
        worker.execute(this::beginTerm);
    }

    private void onStopLeading() {
        if (leading) {
            LOG.infof("IPAM replica %s stopped leading", options.identity());
        }
        leading = false;
        allocating = false;
    }

    private void onNewLeader(String identity) {
        currentLeader = identity == null ? "" : identity;
    }

    /** Worker: start of a leader term. Rebuild from a fresh list, then serve every Node that waits. */
    private void beginTerm() {
        if (!leading || closed) {
            return;
        }
        try {
            List<Node> nodes = client.nodes().list().getItems();
            reported.clear();
            allocator.rebuild(nodes.stream().map(PodCidrController::view).toList());
            releasesSeen = allocator.releases();
            allocating = leading; // the Lease may have been lost while listing
            LOG.infof("IPAM leader %s rebuilt allocations from %d Nodes", options.identity(), nodes.size());
            for (Node n : nodes) {
                NodeCidrAllocator.NodeCidrs c = allocator.get(n.getMetadata().getName()).orElse(null);
                if (c != null && c.state() == AllocationState.CONFLICT) {
                    reportProblem(n, REASON_CONFLICT, c.message());
                }
            }
            serveWaiting();
        } catch (RuntimeException e) {
            LOG.warnf(e, "IPAM leader %s could not rebuild from the Kubernetes API; retrying", options.identity());
            worker.schedule(this::beginTerm, options.retryPeriod().toMillis(), TimeUnit.MILLISECONDS);
        }
    }

    private void enqueue(String name) {
        try {
            worker.execute(() -> sync(name));
        } catch (RejectedExecutionException e) {
            // closing: the event no longer matters
        }
    }

    /** Worker: bring the allocator in line with the informer's view of one Node, and act on it if leading. */
    private void sync(String name) {
        try {
            Node node = informer.getStore().getByKey(name);
            if (node == null) {
                allocator.remove(name);
                reported.remove(name);
            } else {
                NodeCidrAllocator.NodeCidrs c = allocator.observe(view(node));
                if (allocating && c.state() == AllocationState.CONFLICT) {
                    reportProblem(node, REASON_CONFLICT, c.message());
                }
                if (allocating && allocator.needsAllocation(name)) {
                    allocate(node);
                }
            }
            if (allocating && allocator.releases() != releasesSeen) {
                releasesSeen = allocator.releases();
                serveWaiting();
                clearResolvedConflicts();
            }
        } catch (RuntimeException e) {
            LOG.errorf(e, "IPAM failed to process Node %s", name);
        }
    }

    /** Worker: allocate for every waiting Node, oldest first (also retries the exhausted ones). */
    private void serveWaiting() {
        for (String name : allocator.waitingNodes()) {
            if (!allocating) {
                return;
            }
            Node node = informer.getStore().getByKey(name);
            if (node != null && allocator.needsAllocation(name)) {
                allocate(node);
            }
        }
    }

    /** Worker: a Node whose conflicting CIDR became free (its holder left) is told so. */
    private void clearResolvedConflicts() {
        for (Node n : informer.getStore().list()) {
            NodeCondition c = condition(n);
            if (c != null && REASON_CONFLICT.equals(c.getReason()) && allocator.get(n.getMetadata().getName())
                    .map(a -> a.state() == AllocationState.ALLOCATED).orElse(false)) {
                clearProblem(n);
            }
        }
    }

    /** Worker: reserve blocks, write them with optimistic locking; on a conflict re-read the Node and try again. */
    private void allocate(Node node) {
        String name = node.getMetadata().getName();
        for (int attempt = 1; attempt <= MAX_WRITE_ATTEMPTS && allocating; attempt++) {
            boolean wasExhausted = allocator.get(name).map(n -> n.state() == AllocationState.POOL_EXHAUSTED).orElse(false);
            NodeCidrAllocator.Reservation r = allocator.reserveBlocks(name);
            if (r.exhausted()) {
                if (!wasExhausted) {
                    LOG.warnf("Node %s gets no pod CIDR: %s", name, r.exhaustedMessage());
                }
                reportProblem(node, REASON_EXHAUSTED, r.exhaustedMessage());
                return;
            }
            List<String> texts = r.cidrs().stream().map(IpPrefix::toString).toList();
            try {
                if (!allocating) {
                    allocator.abandon(name, "leadership lost");
                    return;
                }
                Node desired = new NodeBuilder(node).editOrNewSpec()
                        .withPodCIDR(texts.getFirst()).withPodCIDRs(texts).endSpec().build();
                // update() sends the cached resourceVersion: the API refuses (409) if the Node changed meanwhile.
                Node written = client.nodes().resource(desired).update();
                allocator.confirm(name, r.cidrs());
                LOG.debugf("Node %s: pod CIDRs %s", name, texts);
                clearProblem(written);
                return;
            } catch (KubernetesClientException e) {
                allocator.abandon(name, "write failed: HTTP " + e.getCode());
                if (e.getCode() == 404) {
                    allocator.remove(name);
                    return;
                }
                if (e.getCode() != 409) {
                    LOG.warnf("Writing pod CIDRs %s to Node %s failed (HTTP %d: %s); retrying", texts, name, e.getCode(),
                            e.getMessage());
                    worker.schedule(() -> sync(name), options.retryPeriod().toMillis(), TimeUnit.MILLISECONDS);
                    return;
                }
                Node fresh = client.nodes().withName(name).get();
                if (fresh == null) {
                    allocator.remove(name);
                    return;
                }
                allocator.observe(view(fresh));
                if (!allocator.needsAllocation(name)) {
                    return;
                }
                node = fresh;
            }
        }
        if (allocating) {
            worker.schedule(() -> sync(name), options.retryPeriod().toMillis(), TimeUnit.MILLISECONDS);
        }
    }

    /** Warning Event and PodCIDRAllocated=False, once per distinct reason and message (the condition remembers). */
    private void reportProblem(Node node, String reason, String message) {
        NodeCondition existing = condition(node);
        String key = node.getMetadata().getUid() + "/" + reason + "/" + message;
        if (key.equals(reported.get(node.getMetadata().getName())) || existing != null
                && "False".equals(existing.getStatus()) && reason.equals(existing.getReason())
                && message.equals(existing.getMessage())) {
            return;
        }
        reported.put(node.getMetadata().getName(), key);
        recordEvent(node, "Warning", reason, message);
        setCondition(node, "False", reason, message);
    }

    /** After a problem: the condition turns True. Nodes that never had one get no extra write. */
    private void clearProblem(Node node) {
        reported.remove(node.getMetadata().getName());
        NodeCondition existing = condition(node);
        if (existing != null && !"True".equals(existing.getStatus())) {
            String message = "pod CIDRs " + String.join(", ", node.getSpec().getPodCIDRs()) + " assigned";
            recordEvent(node, "Normal", REASON_ALLOCATED, message);
            setCondition(node, "True", REASON_ALLOCATED, message);
        }
    }

    static NodeCondition condition(Node node) {
        if (node.getStatus() == null || node.getStatus().getConditions() == null) {
            return null;
        }
        return node.getStatus().getConditions().stream().filter(c -> CONDITION_TYPE.equals(c.getType()))
                .findFirst().orElse(null);
    }

    private void setCondition(Node node, String status, String reason, String message) {
        String now = Instant.now().truncatedTo(ChronoUnit.SECONDS).toString();
        Node current = node;
        for (int attempt = 0; attempt < 3 && current != null; attempt++) {
            List<NodeCondition> conditions = new ArrayList<>();
            if (current.getStatus() != null && current.getStatus().getConditions() != null) {
                current.getStatus().getConditions().stream().filter(c -> !CONDITION_TYPE.equals(c.getType()))
                        .forEach(conditions::add);
            }
            conditions.add(new NodeConditionBuilder().withType(CONDITION_TYPE).withStatus(status).withReason(reason)
                    .withMessage(message).withLastTransitionTime(now).withLastHeartbeatTime(now).build());
            Node desired = new NodeBuilder(current).editOrNewStatus().withConditions(conditions).endStatus().build();
            try {
                client.nodes().resource(desired).updateStatus();
                return;
            } catch (KubernetesClientException e) {
                if (e.getCode() != 409) {
                    LOG.warnf("Could not set condition %s=%s on Node %s: HTTP %d %s", CONDITION_TYPE, status,
                            node.getMetadata().getName(), e.getCode(), e.getMessage());
                    return;
                }
                current = client.nodes().withName(node.getMetadata().getName()).get();
            }
        }
    }

    private void recordEvent(Node node, String type, String reason, String message) {
        String now = Instant.now().truncatedTo(ChronoUnit.SECONDS).toString();
        String name = node.getMetadata().getName() + "." + Long.toHexString(System.currentTimeMillis())
                + Integer.toHexString((int) (Math.random() * 0xffff));
        try {
            client.v1().events().inNamespace(options.eventNamespace()).resource(new EventBuilder()
                    .withNewMetadata().withName(name).withNamespace(options.eventNamespace()).endMetadata()
                    .withInvolvedObject(new ObjectReferenceBuilder().withApiVersion("v1").withKind("Node")
                            .withName(node.getMetadata().getName()).withUid(node.getMetadata().getUid()).build())
                    .withType(type).withReason(reason).withMessage(message)
                    .withNewSource().withComponent(COMPONENT).endSource()
                    .withReportingComponent(COMPONENT).withReportingInstance(options.identity())
                    .withFirstTimestamp(now).withLastTimestamp(now).withCount(1)
                    .build()).create();
        } catch (KubernetesClientException e) {
            LOG.warnf("Could not record Event %s for Node %s: HTTP %d %s", reason, node.getMetadata().getName(),
                    e.getCode(), e.getMessage());
        }
    }

    static NodeCidrAllocator.NodeView view(Node node) {
        List<String> cidrs = List.of();
        if (node.getSpec() != null) {
            if (node.getSpec().getPodCIDRs() != null && !node.getSpec().getPodCIDRs().isEmpty()) {
                cidrs = node.getSpec().getPodCIDRs();
            } else if (node.getSpec().getPodCIDR() != null && !node.getSpec().getPodCIDR().isBlank()) {
                cidrs = List.of(node.getSpec().getPodCIDR());
            }
        }
        return new NodeCidrAllocator.NodeView(node.getMetadata().getName(), node.getMetadata().getUid(), cidrs,
                node.getMetadata().getCreationTimestamp());
    }

    public boolean isLeader() {
        return allocating;
    }

    public String currentLeader() {
        return currentLeader;
    }

    public String identity() {
        return options.identity();
    }

    public NodeCidrAllocator allocator() {
        return allocator;
    }

    /** Leaves the election (releasing the Lease so another replica takes over at once) and stops the worker. */
    @Override
    public void close() {
        closed = true;
        allocating = false;
        CompletableFuture<?> f = election;
        if (f != null) {
            f.cancel(true);
        }
        informer.removeEventHandler(handler);
        worker.shutdownNow();
        try {
            worker.awaitTermination(5, TimeUnit.SECONDS);
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
        }
    }
}
