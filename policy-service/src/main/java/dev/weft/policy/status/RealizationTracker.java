package dev.weft.policy.status;

import dev.weft.policy.core.PolicyEngine;
import dev.weft.proto.controlplane.v1.NetworkPolicySource;
import dev.weft.proto.controlplane.v1.NodeRealizationReport;
import dev.weft.proto.controlplane.v1.PolicyRealization;
import dev.weft.proto.controlplane.v1.PolicyStatus;
import jakarta.enterprise.context.ApplicationScoped;

import java.util.ArrayList;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import java.util.TreeSet;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.atomic.AtomicLong;

/**
 * The agents' realization reports (latest full report per node) combined with the engine's spans: per policy, on how
 * many of the nodes it spans the agent has realized the current generation.
 */
@ApplicationScoped
public class RealizationTracker {

    private final Map<String, Map<String, PolicyRealization>> reportsByNode = new ConcurrentHashMap<>();
    /** When each node's latest report arrived (System.nanoTime), its own or forwarded by another replica. */
    private final Map<String, Long> reportedAtNanos = new ConcurrentHashMap<>();
    private final AtomicLong version = new AtomicLong();
    /** Policies whose reports changed on some node, for the status publisher. */
    private final java.util.concurrent.ConcurrentLinkedQueue<String> changed = new java.util.concurrent.ConcurrentLinkedQueue<>();

    /** Replaces the node's report: policies absent from it are not realized there. */
    public void report(NodeRealizationReport report) {
        if (report.getNodeName().isEmpty()) {
            throw new IllegalArgumentException("node_name is required");
        }
        Map<String, PolicyRealization> byPolicy = new HashMap<>(report.getPoliciesCount() * 2);
        for (PolicyRealization r : report.getPoliciesList()) {
            byPolicy.put(r.getPolicyName(), r);
        }
        Map<String, PolicyRealization> previous = reportsByNode.put(report.getNodeName(), Map.copyOf(byPolicy));
        reportedAtNanos.put(report.getNodeName(), System.nanoTime());
        version.incrementAndGet();
        if (previous == null) {
            changed.addAll(byPolicy.keySet());
            return;
        }
        for (var e : byPolicy.entrySet()) {
            if (!e.getValue().equals(previous.get(e.getKey()))) {
                changed.add(e.getKey());
            }
        }
        for (String name : previous.keySet()) {
            if (!byPolicy.containsKey(name)) {
                changed.add(name);
            }
        }
    }

    /**
     * The nodes whose agents reported within {@code window}: agents re-send their report every 30 s, and a follower
     * forwards its agents' reports to the leader, so on the leader these are the agents alive on any replica.
     */
    public java.util.List<String> nodesReportedWithin(java.time.Duration window) {
        long since = System.nanoTime() - window.toNanos();
        return reportedAtNanos.entrySet().stream().filter(e -> e.getValue() - since > 0).map(Map.Entry::getKey).sorted().toList();
    }

    /** Policy names whose reported realization changed since the last call. */
    public java.util.Set<String> drainChanged() {
        java.util.Set<String> out = new java.util.HashSet<>();
        String s;
        while ((s = changed.poll()) != null) {
            out.add(s);
        }
        return out;
    }

    public long version() {
        return version.get();
    }

    public PolicyStatus status(PolicyEngine.PolicySpan span) {
        PolicyStatus.Builder b = PolicyStatus.newBuilder()
                .setSource(NetworkPolicySource.newBuilder().setNamespace(span.namespace()).setName(span.name())
                        .setUid(span.uid()).setGeneration(span.observedGeneration()))
                .setInternalName(span.uid())
                .setDesiredNodes(span.nodes().size());
        if (span.error() != null) {
            b.setError(span.error());
        }
        // Realized means realized at the generation the user last wrote: while that one is invalid (the previous one
        // stays in force) no node counts as realized.
        long current = span.observedGeneration();
        int realized = 0;
        for (String node : new TreeSet<>(span.nodes())) {
            Map<String, PolicyRealization> reports = reportsByNode.get(node);
            PolicyRealization r = reports == null ? null : reports.get(span.uid());
            if (r != null && r.getGeneration() == current && r.getRealized()) {
                realized++;
            } else if (r != null && r.getGeneration() == current && !r.getMessage().isEmpty()) {
                b.addFailedNodes(node);
            } else {
                b.addPendingNodes(node);
            }
        }
        return b.setRealizedNodes(realized).build();
    }

    public List<PolicyStatus> statuses(List<PolicyEngine.PolicySpan> spans) {
        List<PolicyStatus> out = new ArrayList<>(spans.size());
        for (PolicyEngine.PolicySpan s : spans) {
            out.add(status(s));
        }
        return out;
    }
}
