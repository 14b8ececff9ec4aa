package dev.weft.agent.policy;

import dev.weft.agent.health.LoopHeartbeat;
import dev.weft.agent.node.PodInterface;
import dev.weft.agent.openflow.OfException;
import dev.weft.agent.pipeline.Datapath;
import dev.weft.proto.controlplane.v1.ControlPlaneGrpc;
import dev.weft.proto.controlplane.v1.NodeRealizationReport;
import dev.weft.proto.controlplane.v1.PolicyEvent;
import dev.weft.proto.controlplane.v1.PolicyRealization;
import dev.weft.proto.controlplane.v1.WatchPoliciesRequest;
import io.grpc.Channel;
import io.grpc.Context;
import io.grpc.stub.StreamObserver;
import org.jboss.logging.Logger;

import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.UUID;
import java.util.concurrent.BlockingQueue;
import java.util.concurrent.Executors;
import java.util.concurrent.LinkedBlockingQueue;
import java.util.concurrent.ScheduledExecutorService;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicLong;

/**
 * Consumes this node's policy stream from policy-service and keeps the policy flows in line with it: the initial
 * snapshot (up to SYNC_COMPLETE) replaces the state, later events change it; each batch of events is compiled to
 * flows and applied as one atomic delta; the outcome is reported back with ReportStatus. A broken stream is
 * re-opened with exponential backoff and yields a fresh snapshot.
 */
public final class PolicyController implements AutoCloseable {

    private static final Logger LOG = Logger.getLogger(PolicyController.class);

    private final String nodeName;
    private final String agentId = UUID.randomUUID().toString();
    private final ControlPlaneGrpc.ControlPlaneStub stub;
    /** Reports go one at a time, newest only: an older report must never overtake a newer one. */
    private final StatusReporter reporter;
    private final Datapath datapath;
    private final BlockingQueue<Object> queue = new LinkedBlockingQueue<>();
    private final ScheduledExecutorService timer = Executors.newSingleThreadScheduledExecutor(r -> daemon(r, "policy-reconnect"));
    private final Thread worker;
    private final AtomicLong streamGeneration = new AtomicLong();
    /** Each batch is one unit of work for the agent's watchdog (liveness DOWN if one never ends). */
    private final LoopHeartbeat heartbeat = new LoopHeartbeat("policy-stream");
    private final List<Runnable> onSynced = new java.util.concurrent.CopyOnWriteArrayList<>();
    private volatile Context.CancellableContext streamContext;
    private volatile boolean closed;
    private volatile boolean connected;
    private volatile boolean synced;
    private volatile String lastError = "not connected yet";
    private volatile boolean realized;
    private volatile String realizeError = "";
    private volatile long eventsApplied;
    private int attempt;

    // worker-thread state
    private PolicyState state = new PolicyState();
    private PolicyState pending;
    private final NetworkPolicyFeature flows;
    /** Policies to recompile at the end of the batch; {@code allDirty}: every policy (snapshot, pods, reconnect). */
    private final java.util.Set<String> dirty = new java.util.HashSet<>();
    private boolean allDirty;

    /** {@code receivedNanos}: when the event came off the stream, for the realization lag. */
    private record StreamItem(long generation, PolicyEvent event, long receivedNanos) {
    }

    /** Told, after each batch that changed flows and was realized, how long its oldest event waited. */
    private volatile java.util.function.LongConsumer realizationLag = nanos -> {
    };
    /** Oldest event of the batch being worked on (worker thread). */
    private long batchOldestNanos;

    private record StreamEnded(long generation, String why) {
    }

    private static final Object RECOMPUTE = new Object();

    /** A question about the groups, answered on the worker thread (the only one that reads the state). */
    private record GroupQuery(boolean appliedTo, java.util.concurrent.CompletableFuture<List<PolicyState.GroupView>> answer) {
    }

    /**
     * The address groups or applied-to groups the agent holds (for weftctl): asked of the worker thread, which answers
     * between two events, so no copy of the groups is kept on the side and the answer is one consistent state.
     */
    public List<PolicyState.GroupView> groups(boolean appliedTo, java.time.Duration timeout)
            throws java.util.concurrent.TimeoutException {
        GroupQuery q = new GroupQuery(appliedTo, new java.util.concurrent.CompletableFuture<>());
        queue.add(q);
        try {
            return q.answer.get(timeout.toMillis(), TimeUnit.MILLISECONDS);
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
            throw new java.util.concurrent.TimeoutException("interrupted");
        } catch (java.util.concurrent.ExecutionException e) {
            throw new IllegalStateException(e.getCause());
        }
    }

    /** Where the realization lag of each batch goes (the agent's metrics). */
    public void onRealizationLag(java.util.function.LongConsumer consumer) {
        realizationLag = consumer;
    }

    public PolicyController(String nodeName, Channel channel, Datapath datapath) {
        this.nodeName = nodeName;
        this.stub = ControlPlaneGrpc.newStub(channel);
        this.reporter = new StatusReporter(stub, timer, 1_000, 30_000);
        this.datapath = datapath;
        this.flows = new NetworkPolicyFeature(datapath, () -> queue.add(RECOMPUTE));
        this.worker = daemon(this::work, "policy-worker");
        datapath.register(flows);
    }

    private static Thread daemon(Runnable r, String name) {
        Thread t = new Thread(r, name);
        t.setDaemon(true);
        return t;
    }

    public PolicyController start() {
        worker.start();
        openStream();
        return this;
    }

    /** Runs on the worker thread after each successfully applied snapshot (for the restart reconciliation). */
    public void onSynced(Runnable r) {
        onSynced.add(r);
    }

    public boolean isConnected() {
        return connected;
    }

    public boolean isSynced() {
        return synced;
    }

    public String lastError() {
        return lastError;
    }

    public boolean realized() {
        return realized;
    }

    public String realizeError() {
        return realizeError;
    }

    public long eventsApplied() {
        return eventsApplied;
    }

    public LoopHeartbeat heartbeat() {
        return heartbeat;
    }

    /**
     * The rule a conjunction id stands for, {@code <policy>/<IN|OUT>/<rule index>[/...]}, or null (traceflow
     * names the rule that allowed its probe).
     */
    public String ruleKeyOf(long conjId) {
        try {
            return flows.conjIds().ruleKeys().get(conjId);
        } catch (RuntimeException concurrentlyChanged) {
            return null;
        }
    }

    public Map<String, PolicyCompiler.PolicyView> views() {
        return flows.views();
    }

    /**
     * Sends the denied new connections of policies annotated weft.dev/log to {@code listener}, at most
     * {@code perSecond} (plus {@code burst}) a second: the switch's meter drops the rest before they reach the agent.
     */
    public void onDeniedConnection(DeniedConnections.Listener listener, long perSecond, long burst) {
        flows.onDenied(listener, perSecond, burst);
    }

    private void openStream() {
        if (closed) {
            return;
        }
        long gen = streamGeneration.incrementAndGet();
        Context.CancellableContext ctx = Context.current().withCancellation();
        streamContext = ctx;
        ctx.run(() -> stub.watchPolicies(WatchPoliciesRequest.newBuilder().setNodeName(nodeName).setAgentId(agentId).build(),
                new StreamObserver<>() {
                    @Override
                    public void onNext(PolicyEvent e) {
                        connected = true;
                        queue.add(new StreamItem(gen, e, System.nanoTime()));
                    }

                    @Override
                    public void onError(Throwable t) {
                        queue.add(new StreamEnded(gen, t.getMessage()));
                    }

                    @Override
                    public void onCompleted() {
                        queue.add(new StreamEnded(gen, "stream ended by the server"));
                    }
                }));
    }

    private void work() {
        List<Object> batch = new ArrayList<>();
        while (!closed) {
            try {
                batch.add(queue.take());
            } catch (InterruptedException e) {
                return;
            }
            queue.drainTo(batch);
            // not closed in a finally: a worker that dies on an exception is a stuck loop for the watchdog
            LoopHeartbeat.Unit unit = heartbeat.begin("batch of " + batch.size() + " policy events");
            boolean changed = false;
            batchOldestNanos = Long.MAX_VALUE;
            for (Object o : batch) {
                if (o == RECOMPUTE) {
                    allDirty |= synced;
                    changed |= synced;
                } else if (o instanceof GroupQuery q) {
                    try {
                        q.answer.complete(state.groupViews(q.appliedTo));
                    } catch (RuntimeException e) {
                        q.answer.completeExceptionally(e);
                    }
                } else if (o instanceof StreamEnded end) {
                    if (end.generation == streamGeneration.get()) {
                        streamEnded(end.why);
                    }
                } else if (o instanceof StreamItem item && item.generation == streamGeneration.get()) {
                    changed |= onEvent(item.event);
                    batchOldestNanos = Math.min(batchOldestNanos, item.receivedNanos);
                }
            }
            batch.clear();
            if (changed) {
                recompute();
            }
            unit.close();
        }
    }

    private boolean onEvent(PolicyEvent e) {
        if (pending == null && !synced) {
            pending = new PolicyState();
        }
        if (e.getType() == PolicyEvent.Type.SYNC_COMPLETE) {
            if (pending != null) {
                state = pending; // a new snapshot replaces, never merges
                pending = null;
            }
            synced = true;
            attempt = 0;
            lastError = "";
            eventsApplied++;
            allDirty = true;
            return true;
        }
        PolicyState target = pending != null ? pending : state;
        String problem = target.apply(e);
        if (problem != null) {
            LOG.warnf("ignoring policy event #%d: %s", e.getSequence(), problem);
            return false;
        }
        eventsApplied++;
        if (pending != null) {
            return false;
        }
        switch (e.getKind()) {
            case NETWORK_POLICY -> {
                dirty.add(e.getName());
                if (e.hasNetworkPolicy()) {
                    dirty.add(e.getNetworkPolicy().getName());
                }
            }
            case ADDRESS_GROUP -> dirty.addAll(NetworkPolicyFeature.usingGroup(state, e.getName(), false));
            case APPLIED_TO_GROUP -> dirty.addAll(NetworkPolicyFeature.usingGroup(state, e.getName(), true));
            default -> allDirty = true;
        }
        return true;
    }

    private void streamEnded(String why) {
        if (closed) {
            return;
        }
        connected = false;
        synced = false;
        pending = null;
        lastError = why == null ? "stream failed" : why;
        long delay = Math.min(10_000, 200L << Math.min(attempt++, 6));
        LOG.infof("policy stream from policy-service ended (%s); reopening in %d ms", lastError, delay);
        try {
            timer.schedule(this::openStream, delay, TimeUnit.MILLISECONDS);
        } catch (java.util.concurrent.RejectedExecutionException e) {
            // closing
        }
    }

    /** Recompiles the policies the batch touched and applies only their changes (see {@link NetworkPolicyFeature}). */
    private void recompute() {
        Map<String, PodInterface> pods = datapath.localPods();
        java.util.Set<String> names = allDirty ? flows.all(state) : new java.util.HashSet<>(dirty);
        allDirty = false;
        dirty.clear();
        try {
            NetworkPolicyFeature.Update u = flows.update(state, pods, names);
            u.problems().forEach(p -> LOG.warn(p));
            realized = datapath.isReady();
            realizeError = realized ? "" : "waiting for Open vSwitch: " + datapath.status();
            if (u.adds() + u.deletes() > 0) {
                LOG.debugf("policy flows: +%d -%d (%d policies recompiled)", u.adds(), u.deletes(), names.size());
            }
        } catch (OfException | IllegalArgumentException e) {
            realized = false;
            realizeError = e.getMessage();
            LOG.warnf("policy flows not realized: %s", e.getMessage());
        }
        report(flows.views());
        if (realized) {
            if (batchOldestNanos != Long.MAX_VALUE) {
                realizationLag.accept(System.nanoTime() - batchOldestNanos);
            }
            onSynced.forEach(Runnable::run);
        }
    }

    private void report(Map<String, PolicyCompiler.PolicyView> views) {
        NodeRealizationReport.Builder r = NodeRealizationReport.newBuilder().setNodeName(nodeName);
        for (PolicyCompiler.PolicyView v : views.values()) {
            r.addPolicies(PolicyRealization.newBuilder().setPolicyName(v.name()).setGeneration(v.generation())
                    .setRealized(realized).setMessage(realized ? "" : realizeError));
        }
        reporter.submit(r.build());
    }

    @Override
    public void close() {
        closed = true;
        Context.CancellableContext ctx = streamContext;
        if (ctx != null) {
            ctx.cancel(null);
        }
        timer.shutdownNow();
        worker.interrupt();
    }
}
