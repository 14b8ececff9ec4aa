package dev.weft.policy.core;

import dev.weft.proto.controlplane.v1.ObjectKind;
import dev.weft.proto.controlplane.v1.PolicyEvent;
import io.fabric8.kubernetes.api.model.Container;
import io.fabric8.kubernetes.api.model.ContainerPort;
import io.fabric8.kubernetes.api.model.Namespace;
import io.fabric8.kubernetes.api.model.Pod;
import io.fabric8.kubernetes.api.model.PodIP;
import io.fabric8.kubernetes.api.model.networking.v1.NetworkPolicy;
import io.fabric8.kubernetes.api.model.networking.v1.NetworkPolicySpec;
import org.jboss.logging.Logger;

import java.util.ArrayList;
import java.util.HashMap;
import java.util.HashSet;
import java.util.LinkedHashMap;
import java.util.LinkedHashSet;
import java.util.List;
import java.util.Map;
import java.util.Objects;
import java.util.Set;
import java.util.function.Consumer;

/**
 * The computation core: Kubernetes objects in (the informer handlers call {@code on*} directly), shared groups,
 * internal policies and per-node spans out, kept up to date incrementally.
 *
 * <p>Every handler is one transaction under the engine's lock: it updates the indexes, recomputes only the groups the
 * changed object can affect (pods are indexed by namespace and label, groups by namespace and anchor label), records
 * which groups and policies it touched and how group memberships changed, and finally tells each subscribed node what
 * changed within its span. With no subscriber nothing is recorded (initial sync and benchmarks pay for no stream).
 *
 * <p>Spans: an AppliedToGroup spans the nodes hosting its members; a policy spans its AppliedToGroup's span; an
 * AddressGroup spans the union of the spans of the policies that use it. All are reference counts updated when a
 * group gains its first or loses its last member on a node.
 */
public final class PolicyEngine {

    /** Lazily: the computation path never logs, and a cold start should not pay for logging set-up. */
    private static final class Log {
        static final Logger LOG = Logger.getLogger(PolicyEngine.class);
    }

    /** A policy that cannot be computed, reported once per generation (Event + log + status). */
    public record PolicyError(String namespace, String name, String uid, long generation, String message) {
    }

    /** Per-policy facts for status: which nodes must realize which generation. */
    public record PolicySpan(String namespace, String name, String uid, long generation, long observedGeneration,
                             Set<String> nodes, String error) {
    }

    private final HashMap<String, NamespaceState> namespaces = new HashMap<>();
    private final HashMap<GroupKey, Group> groups = new HashMap<>();
    private final LinkedHashSet<Group> clusterGroups = new LinkedHashSet<>();
    private final HashMap<String, PolicyState> policies = new HashMap<>();
    private final HashMap<String, String> nodeNames = new HashMap<>();
    /**
     * node -> the live groups it is in the span of (as applied-to group or address group): a node's snapshot reads
     * only its own groups instead of every group of the cluster (1,000 agents x 10,000 groups at a full sync).
     */
    private final HashMap<String, LinkedHashSet<Group>> groupsByNode = new HashMap<>();
    private final HashMap<List<PodState.PortName>, List<PodState.PortName>> portLists = new HashMap<>();
    private final PolicyTranslator translator = new PolicyTranslator();
    private final List<Subscription> subscriptions = new ArrayList<>();
    private final Consumer<PolicyError> errorListener;
    private long version;
    private Txn txn;
    /** Policies whose span, generation or error changed since the status publisher last looked. */
    private ArrayList<PolicyState> statusDirty = new ArrayList<>();

    public PolicyEngine() {
        this(e -> { });
    }

    public PolicyEngine(Consumer<PolicyError> errorListener) {
        this.errorListener = errorListener;
    }

    // ------------------------------------------------------------------------------------------ informer handlers

    public synchronized void onNamespace(Namespace n) {
        NamespaceState ns = namespace(n.getMetadata().getName());
        Map<String, String> labels = n.getMetadata().getLabels() == null ? Map.of() : n.getMetadata().getLabels();
        ns.exists = true;
        if (labels.equals(ns.labels)) {
            return;
        }
        begin();
        ns.labels = labels;
        reevaluateClusterGroups(ns);
        commit();
    }

    public synchronized void onNamespaceDeleted(Namespace n) {
        NamespaceState ns = namespaces.get(n.getMetadata().getName());
        if (ns == null) {
            return;
        }
        begin();
        ns.exists = false;
        if (!ns.labels.isEmpty()) {
            ns.labels = Map.of();
            reevaluateClusterGroups(ns);
        }
        if (ns.unused()) {
            namespaces.remove(ns.name);
        }
        commit();
    }

    public synchronized void onPod(Pod pod) {
        NamespaceState ns = namespace(pod.getMetadata().getNamespace());
        PodState old = ns.pods.get(pod.getMetadata().getName());
        PodState neu = podState(ns, pod);
        if (old != null && neu != null && old.sameAs(neu)) {
            return;
        }
        begin();
        updatePod(ns, old, neu);
        commit();
    }

    public synchronized void onPodDeleted(Pod pod) {
        NamespaceState ns = namespaces.get(pod.getMetadata().getNamespace());
        PodState old = ns == null ? null : ns.pods.get(pod.getMetadata().getName());
        if (old == null) {
            return;
        }
        begin();
        updatePod(ns, old, null);
        if (ns.unused()) {
            namespaces.remove(ns.name);
        }
        commit();
    }

    public synchronized void onPolicy(NetworkPolicy np) {
        String uid = policyUid(np);
        PolicyState p = policies.get(uid);
        NetworkPolicySpec spec = np.getSpec();
        // Updates that only touch metadata (e.g. our own status annotations) change nothing, but for the log annotation.
        boolean logDenied = PolicyTranslator.logDenied(np);
        if (p != null && Objects.equals(p.lastSpec, spec) && p.lastLogDenied == logDenied) {
            return;
        }
        Long g = np.getMetadata().getGeneration();
        long generation = g != null ? g : (p == null ? 1 : p.observedGeneration + 1);
        if (p == null) {
            p = new PolicyState(uid, np.getMetadata().getNamespace(), np.getMetadata().getName());
            policies.put(uid, p);
        }
        p.observedGeneration = generation;
        p.lastSpec = spec;
        p.lastLogDenied = logDenied;
        markStatusDirty(p);
        CompiledPolicy compiled;
        try {
            compiled = translator.compile(np, generation);
        } catch (InvalidPolicyException e) {
            p.error = e.getMessage();
            version++;
            Log.LOG.warnf("NetworkPolicy %s/%s (generation %d) is invalid and not computed: %s%s", p.namespace, p.name,
                    generation, e.getMessage(), p.compiled == null ? "" : "; generation "
                            + p.compiled.generation() + " stays in force");
            errorListener.accept(new PolicyError(p.namespace, p.name, uid, generation, e.getMessage()));
            return;
        } catch (RuntimeException e) {
            // Never let one policy stall the pipeline: anything unexpected is reported like an invalid policy.
            p.error = "internal error: " + e;
            version++;
            Log.LOG.errorf(e, "NetworkPolicy %s/%s could not be computed", p.namespace, p.name);
            errorListener.accept(new PolicyError(p.namespace, p.name, uid, generation, p.error));
            return;
        }
        p.error = null;
        begin();
        List<Group> releasable = new ArrayList<>();
        boolean wasActive = p.active();
        if (wasActive) {
            detach(p, releasable);
        }
        p.compiled = compiled;
        p.proto = null;
        attach(p);
        if (wasActive) {
            txn.modifiedPolicies.add(p);
        }
        touch(p);
        for (Group r : releasable) {
            releaseIfUnused(r);
        }
        commit();
    }

    public synchronized void onPolicyDeleted(NetworkPolicy np) {
        String uid = policyUid(np);
        PolicyState p = policies.remove(uid);
        if (p == null) {
            return;
        }
        begin();
        markStatusDirty(p);
        List<Group> releasable = new ArrayList<>();
        if (p.active()) {
            detach(p, releasable);
        }
        p.live = false;
        touch(p);
        for (Group r : releasable) {
            releaseIfUnused(r);
        }
        commit();
    }

    private static String policyUid(NetworkPolicy np) {
        String uid = np.getMetadata().getUid();
        // Objects without UID (never from an API server) are still named deterministically.
        return uid != null && !uid.isEmpty() ? uid : np.getMetadata().getNamespace() + "/" + np.getMetadata().getName();
    }

    // ------------------------------------------------------------------------------------------ pods and groups

    private NamespaceState namespace(String name) {
        NamespaceState ns = namespaces.get(name);
        if (ns == null) {
            ns = new NamespaceState(name);
            namespaces.put(name, ns);
        }
        return ns;
    }

    /** Null for pods that NetworkPolicy does not govern: host-network pods and terminated pods (their IP is reused). */
    private PodState podState(NamespaceState ns, Pod pod) {
        var spec = pod.getSpec();
        if (spec != null && Boolean.TRUE.equals(spec.getHostNetwork())) {
            return null;
        }
        var status = pod.getStatus();
        String phase = status == null ? null : status.getPhase();
        if ("Succeeded".equals(phase) || "Failed".equals(phase)) {
            return null;
        }
        String node = spec == null || spec.getNodeName() == null || spec.getNodeName().isEmpty()
                ? null : nodeNames.computeIfAbsent(spec.getNodeName(), n -> n);
        List<String> ips = List.of();
        if (status != null) {
            List<PodIP> podIps = status.getPodIPs();
            if (podIps != null && !podIps.isEmpty()) {
                ips = podIps.size() == 1 ? List.of(podIps.getFirst().getIp())
                        : podIps.stream().map(PodIP::getIp).filter(Objects::nonNull).toList();
            } else if (status.getPodIP() != null && !status.getPodIP().isEmpty()) {
                ips = List.of(status.getPodIP());
            }
        }
        List<PodState.PortName> ports = List.of();
        if (spec != null && spec.getContainers() != null) {
            List<PodState.PortName> named = null;
            for (Container c : spec.getContainers()) {
                if (c.getPorts() == null) {
                    continue;
                }
                for (ContainerPort cp : c.getPorts()) {
                    if (cp.getName() == null || cp.getName().isEmpty() || cp.getContainerPort() == null) {
                        continue;
                    }
                    CompiledPolicy.Protocol proto;
                    try {
                        proto = PolicyTranslator.protocol(cp.getProtocol(), "port");
                    } catch (InvalidPolicyException e) {
                        continue;
                    }
                    if (named == null) {
                        named = new ArrayList<>(2);
                    }
                    named.add(new PodState.PortName(cp.getName(), proto, cp.getContainerPort()));
                }
            }
            if (named != null) {
                // Pods of one template share one list.
                ports = portLists.computeIfAbsent(List.copyOf(named), l -> l);
            }
        }
        Map<String, String> labels = pod.getMetadata().getLabels() == null ? Map.of() : pod.getMetadata().getLabels();
        return new PodState(ns.name, pod.getMetadata().getName(), labels, node, ips, ports);
    }

    private void updatePod(NamespaceState ns, PodState old, PodState neu) {
        if (clusterGroups.isEmpty() && ns.unanchoredGroups.isEmpty() && ns.groupsByAnchor.isEmpty()) {
            // No group can select the pod (e.g. pods listed before any policy): index only.
            if (old != null) {
                ns.unindex(old);
            }
            if (neu != null) {
                ns.index(neu);
            }
            return;
        }
        LinkedHashSet<Group> candidates = new LinkedHashSet<>();
        if (old != null) {
            ns.unindex(old);
            ns.candidateGroups(old.labels, candidates);
        }
        if (neu != null) {
            ns.index(neu);
            ns.candidateGroups(neu.labels, candidates);
        }
        candidates.addAll(clusterGroups);
        for (Group g : candidates) {
            if (old != null && g.members.contains(old)) {
                removeMember(g, old);
            }
            if (neu != null && neu.scheduled() && selects(g, ns, neu)) {
                addMember(g, neu);
            }
        }
    }

    private static boolean selects(Group g, NamespaceState ns, PodState p) {
        GroupKey k = g.key;
        if (k.namespace() != null) {
            return k.namespace().equals(ns.name) && k.podSelector().matches(p.labels);
        }
        return k.namespaceSelector().matches(ns.labels) && k.podSelector().matches(p.labels);
    }

    private void reevaluateClusterGroups(NamespaceState ns) {
        for (Group g : clusterGroups) {
            boolean nsMatches = g.key.namespaceSelector().matches(ns.labels);
            for (PodState p : ns.pods.values()) {
                boolean is = nsMatches && p.scheduled() && g.key.podSelector().matches(p.labels);
                boolean was = g.members.contains(p);
                if (was && !is) {
                    removeMember(g, p);
                } else if (is && !was) {
                    addMember(g, p);
                }
            }
        }
    }

    private Group acquireGroup(GroupKey key) {
        Group g = groups.get(key);
        if (g != null) {
            return g;
        }
        g = new Group(key);
        groups.put(key, g);
        if (key.namespace() != null) {
            NamespaceState ns = namespace(key.namespace());
            ns.addGroup(g);
            Selector sel = key.podSelector();
            for (PodState p : ns.candidatePods(sel)) {
                if (p.scheduled() && sel.matches(p.labels)) {
                    addMember(g, p);
                }
            }
        } else {
            clusterGroups.add(g);
            for (NamespaceState ns : namespaces.values()) {
                if (!key.namespaceSelector().matches(ns.labels)) {
                    continue;
                }
                for (PodState p : ns.candidatePods(key.podSelector())) {
                    if (p.scheduled() && key.podSelector().matches(p.labels)) {
                        addMember(g, p);
                    }
                }
            }
        }
        touch(g);
        return g;
    }

    private void releaseIfUnused(Group g) {
        if (!g.live || !g.unused()) {
            return;
        }
        g.live = false;
        groups.remove(g.key);
        for (String node : g.membersPerNode.keySet()) {
            unindex(g, node);
        }
        for (String node : g.addressSpan.keySet()) {
            unindex(g, node);
        }
        if (g.key.namespace() != null) {
            NamespaceState ns = namespaces.get(g.key.namespace());
            if (ns != null) {
                ns.removeGroup(g);
                if (ns.unused()) {
                    namespaces.remove(ns.name);
                }
            }
        } else {
            clusterGroups.remove(g);
        }
        touch(g);
    }

    private void addMember(Group g, PodState p) {
        if (!g.members.add(p)) {
            return;
        }
        if (txn.recording) {
            txn.delta(g).added(p);
            txn.touchedGroups.add(g);
        }
        int[] c = g.membersPerNode.computeIfAbsent(p.node, n -> new int[1]);
        if (c[0]++ == 0) {
            index(g, p.node);
            groupGainedNode(g, p.node);
        }
    }

    private void removeMember(Group g, PodState p) {
        if (!g.members.remove(p)) {
            return;
        }
        if (txn.recording) {
            txn.delta(g).removed(p);
            txn.touchedGroups.add(g);
        }
        int[] c = g.membersPerNode.get(p.node);
        if (--c[0] == 0) {
            g.membersPerNode.remove(p.node);
            if (!g.addressSpan.containsKey(p.node)) {
                unindex(g, p.node);
            }
            groupLostNode(g, p.node);
        }
    }

    private void groupGainedNode(Group g, String node) {
        version++;
        for (PolicyState p : g.appliedToOf) {
            markStatusDirty(p);
        }
        for (Group a : g.addressTargets.keySet()) {
            addressSpanAdd(a, node);
        }
        if (txn.recording) {
            txn.touchedGroups.add(g);
            txn.touchedPolicies.addAll(g.appliedToOf);
        }
    }

    private void groupLostNode(Group g, String node) {
        version++;
        for (PolicyState p : g.appliedToOf) {
            markStatusDirty(p);
        }
        for (Group a : g.addressTargets.keySet()) {
            addressSpanRemove(a, node);
        }
        if (txn.recording) {
            txn.touchedGroups.add(g);
            txn.touchedPolicies.addAll(g.appliedToOf);
        }
    }

    private void addressSpanAdd(Group a, String node) {
        int[] c = a.addressSpan.computeIfAbsent(node, n -> new int[1]);
        if (c[0]++ == 0) {
            index(a, node);
            touch(a);
        }
    }

    private void index(Group g, String node) {
        if (g.live) {
            groupsByNode.computeIfAbsent(node, n -> new LinkedHashSet<>()).add(g);
        }
    }

    private void unindex(Group g, String node) {
        LinkedHashSet<Group> s = groupsByNode.get(node);
        if (s != null && s.remove(g) && s.isEmpty()) {
            groupsByNode.remove(node);
        }
    }

    private void addressSpanRemove(Group a, String node) {
        int[] c = a.addressSpan.get(node);
        if (--c[0] == 0) {
            a.addressSpan.remove(node);
            if (!a.membersPerNode.containsKey(node)) {
                unindex(a, node);
            }
            touch(a);
        }
    }

    /** Connects an active policy to its groups (creating them) and propagates spans. */
    private void attach(PolicyState p) {
        CompiledPolicy c = p.compiled;
        Group applied = acquireGroup(c.appliedTo());
        List<GroupKey> keys = c.addressGroupKeys();
        List<Group> address;
        if (keys.isEmpty()) {
            address = List.of();
        } else if (keys.size() == 1) {
            address = List.of(acquireGroup(keys.getFirst()));
        } else {
            Group[] gs = new Group[keys.size()];
            for (int i = 0; i < gs.length; i++) {
                gs[i] = acquireGroup(keys.get(i));
            }
            address = List.of(gs);
        }
        p.appliedTo = applied;
        p.addressGroups = address;
        if (applied.appliedToOf.isEmpty()) {
            touch(applied);
        }
        applied.appliedToOf.add(p);
        for (Group a : address) {
            a.addressOf.add(p);
            int[] edge = applied.addressTargets.computeIfAbsent(a, x -> new int[1]);
            if (edge[0]++ == 0) {
                for (String node : applied.membersPerNode.keySet()) {
                    addressSpanAdd(a, node);
                }
            }
        }
        version++;
    }

    private void detach(PolicyState p, List<Group> releasable) {
        Group applied = p.appliedTo;
        for (Group a : p.addressGroups) {
            a.addressOf.remove(p);
            int[] edge = applied.addressTargets.get(a);
            if (--edge[0] == 0) {
                applied.addressTargets.remove(a);
                for (String node : applied.membersPerNode.keySet()) {
                    addressSpanRemove(a, node);
                }
            }
            releasable.add(a);
        }
        applied.appliedToOf.remove(p);
        if (applied.appliedToOf.isEmpty()) {
            touch(applied);
        }
        releasable.add(applied);
        version++;
    }

    private void markStatusDirty(PolicyState p) {
        if (!p.statusDirty) {
            p.statusDirty = true;
            statusDirty.add(p);
        }
    }

    /** UIDs of the policies whose status inputs changed since the last call (deleted ones included). */
    public synchronized List<String> drainStatusDirty() {
        List<String> out = new ArrayList<>(statusDirty.size());
        for (PolicyState p : statusDirty) {
            p.statusDirty = false;
            out.add(p.uid);
        }
        statusDirty = new ArrayList<>();
        return out;
    }

    /** The status facts of one policy, null if it does not exist (any more). */
    public synchronized PolicySpan policySpan(String uid) {
        PolicyState p = policies.get(uid);
        return p == null ? null : span(p);
    }

    private void touch(Group g) {
        if (txn.recording) {
            txn.touchedGroups.add(g);
        }
    }

    private void touch(PolicyState p) {
        if (txn.recording) {
            txn.touchedPolicies.add(p);
        }
    }

    // ------------------------------------------------------------------------------------------ transactions and streams

    private static final class Delta {
        final LinkedHashSet<PodState> added = new LinkedHashSet<>();
        final LinkedHashSet<PodState> removed = new LinkedHashSet<>();

        void added(PodState p) {
            if (!removed.remove(p)) {
                added.add(p);
            }
        }

        void removed(PodState p) {
            if (!added.remove(p)) {
                removed.add(p);
            }
        }
    }

    private static final class Txn {
        final boolean recording;
        final LinkedHashSet<Group> touchedGroups = new LinkedHashSet<>();
        final LinkedHashSet<PolicyState> touchedPolicies = new LinkedHashSet<>();
        final HashSet<PolicyState> modifiedPolicies = new HashSet<>();
        final HashMap<Group, Delta> deltas = new HashMap<>();

        Txn(boolean recording) {
            this.recording = recording;
        }

        Delta delta(Group g) {
            return deltas.computeIfAbsent(g, x -> new Delta());
        }
    }

    private static final Txn NOT_RECORDING = new Txn(false);

    private void begin() {
        txn = subscriptions.isEmpty() ? NOT_RECORDING : new Txn(true);
    }

    private void commit() {
        Txn t = txn;
        txn = null;
        if (!t.recording || (t.touchedGroups.isEmpty() && t.touchedPolicies.isEmpty())) {
            return;
        }
        subscriptions.removeIf(s -> !dispatch(t, s));
    }

    /** What one subscribed stream has been sent, so that changes become ADDED / MODIFIED / patch / DELETED. */
    private static final class Subscription {
        final NodeSink sink;
        final String node;
        final HashSet<Group> addressGroups = new HashSet<>();
        final HashSet<Group> appliedToGroups = new HashSet<>();
        final HashSet<PolicyState> policies = new HashSet<>();

        Subscription(NodeSink sink) {
            this.sink = sink;
            this.node = sink.nodeName();
        }
    }

    private boolean dispatch(Txn t, Subscription s) {
        String node = s.node;
        List<PolicyEvent> groupsFirst = new ArrayList<>();
        List<PolicyEvent> policyEvents = new ArrayList<>();
        List<PolicyEvent> policyDeletions = new ArrayList<>();
        List<PolicyEvent> groupDeletions = new ArrayList<>();
        for (Group g : t.touchedGroups) {
            Delta d = t.deltas.get(g);
            boolean want = g.live && g.addressSpan.containsKey(node);
            boolean had = s.addressGroups.contains(g);
            if (want && !had) {
                s.addressGroups.add(g);
                groupsFirst.add(ProtoMapper.event(PolicyEvent.Type.ADDED, ObjectKind.ADDRESS_GROUP, g.name())
                        .setAddressGroup(ProtoMapper.addressGroup(g)).build());
            } else if (want && d != null) {
                var patch = ProtoMapper.addressPatch(g, d.added, d.removed);
                if (patch != null) {
                    groupsFirst.add(ProtoMapper.event(PolicyEvent.Type.MODIFIED, ObjectKind.ADDRESS_GROUP, g.name())
                            .setGroupPatch(patch).build());
                }
            } else if (!want && had) {
                s.addressGroups.remove(g);
                groupDeletions.add(ProtoMapper.event(PolicyEvent.Type.DELETED, ObjectKind.ADDRESS_GROUP, g.name()).build());
            }
            want = g.live && g.usedAsAppliedTo() && g.membersPerNode.containsKey(node);
            had = s.appliedToGroups.contains(g);
            if (want && !had) {
                s.appliedToGroups.add(g);
                groupsFirst.add(ProtoMapper.event(PolicyEvent.Type.ADDED, ObjectKind.APPLIED_TO_GROUP, g.name())
                        .setAppliedToGroup(ProtoMapper.appliedToGroup(g, node)).build());
            } else if (want && d != null) {
                var patch = ProtoMapper.appliedToPatch(g, node, d.added, d.removed);
                if (patch != null) {
                    groupsFirst.add(ProtoMapper.event(PolicyEvent.Type.MODIFIED, ObjectKind.APPLIED_TO_GROUP, g.name())
                            .setGroupPatch(patch).build());
                }
            } else if (!want && had) {
                s.appliedToGroups.remove(g);
                groupDeletions.add(ProtoMapper.event(PolicyEvent.Type.DELETED, ObjectKind.APPLIED_TO_GROUP, g.name()).build());
            }
        }
        for (PolicyState p : t.touchedPolicies) {
            boolean want = p.active() && p.appliedTo.membersPerNode.containsKey(node);
            boolean had = s.policies.contains(p);
            if (want && !had) {
                s.policies.add(p);
                policyEvents.add(ProtoMapper.event(PolicyEvent.Type.ADDED, ObjectKind.NETWORK_POLICY, p.uid)
                        .setNetworkPolicy(ProtoMapper.policy(p)).build());
            } else if (want && t.modifiedPolicies.contains(p)) {
                policyEvents.add(ProtoMapper.event(PolicyEvent.Type.MODIFIED, ObjectKind.NETWORK_POLICY, p.uid)
                        .setNetworkPolicy(ProtoMapper.policy(p)).build());
            } else if (!want && had) {
                s.policies.remove(p);
                policyDeletions.add(ProtoMapper.event(PolicyEvent.Type.DELETED, ObjectKind.NETWORK_POLICY, p.uid).build());
            }
        }
        // Order matters to the agent: a policy arrives after its groups, and leaves before them.
        groupsFirst.addAll(policyEvents);
        groupsFirst.addAll(policyDeletions);
        groupsFirst.addAll(groupDeletions);
        if (groupsFirst.isEmpty()) {
            return true;
        }
        return s.sink.deliver(groupsFirst);
    }

    /**
     * Registers a node's stream and delivers, atomically with respect to every change, the node's full snapshot
     * followed by SYNC_COMPLETE; later changes follow on the same sink.
     */
    public synchronized void subscribe(NodeSink sink) {
        Subscription s = new Subscription(sink);
        String node = s.node;
        List<PolicyEvent> events = new ArrayList<>();
        List<PolicyEvent> policyEvents = new ArrayList<>();
        for (Group g : groupsByNode.getOrDefault(node, EMPTY)) {
            if (g.addressSpan.containsKey(node)) {
                s.addressGroups.add(g);
                events.add(ProtoMapper.event(PolicyEvent.Type.ADDED, ObjectKind.ADDRESS_GROUP, g.name())
                        .setAddressGroup(ProtoMapper.addressGroup(g)).build());
            }
            if (g.usedAsAppliedTo() && g.membersPerNode.containsKey(node)) {
                s.appliedToGroups.add(g);
                events.add(ProtoMapper.event(PolicyEvent.Type.ADDED, ObjectKind.APPLIED_TO_GROUP, g.name())
                        .setAppliedToGroup(ProtoMapper.appliedToGroup(g, node)).build());
                for (PolicyState p : g.appliedToOf) {
                    s.policies.add(p);
                    policyEvents.add(ProtoMapper.event(PolicyEvent.Type.ADDED, ObjectKind.NETWORK_POLICY, p.uid)
                            .setNetworkPolicy(ProtoMapper.policy(p)).build());
                }
            }
        }
        events.addAll(policyEvents);
        events.add(PolicyEvent.newBuilder().setType(PolicyEvent.Type.SYNC_COMPLETE).build());
        if (sink.deliver(events)) {
            subscriptions.add(s);
        }
    }

    private static final LinkedHashSet<Group> EMPTY = new LinkedHashSet<>();

    /** The groups whose span contains the node (test hook: the index must equal a scan of every group). */
    synchronized Set<Group> groupsSpanning(String node) {
        return Set.copyOf(groupsByNode.getOrDefault(node, EMPTY));
    }

    public synchronized void unsubscribe(NodeSink sink) {
        subscriptions.removeIf(s -> s.sink == sink);
    }

    // ------------------------------------------------------------------------------------------ queries

    /** Increases on every change of a policy's span, generation or error: status needs recomputing. */
    public synchronized long version() {
        return version;
    }

    public synchronized List<PolicySpan> policySpans() {
        List<PolicySpan> out = new ArrayList<>(policies.size());
        for (PolicyState p : policies.values()) {
            out.add(span(p));
        }
        return out;
    }

    private static PolicySpan span(PolicyState p) {
        long gen = p.compiled == null ? 0 : p.compiled.generation();
        return new PolicySpan(p.namespace, p.name, p.uid, gen, p.observedGeneration, Set.copyOf(p.span()), p.error);
    }

    public synchronized int invalidPolicyCount() {
        int n = 0;
        for (PolicyState p : policies.values()) {
            if (p.error != null) {
                n++;
            }
        }
        return n;
    }

    public synchronized PolicyState policy(String uid) {
        return policies.get(uid);
    }

    public synchronized Group group(GroupKey key) {
        return groups.get(key);
    }

    public synchronized Map<GroupKey, Group> groups() {
        return new LinkedHashMap<>(groups);
    }

    public synchronized int policyCount() {
        return policies.size();
    }

    public synchronized int podCount() {
        int n = 0;
        for (NamespaceState ns : namespaces.values()) {
            n += ns.pods.size();
        }
        return n;
    }

    public synchronized int subscriptionCount() {
        return subscriptions.size();
    }

    /** Nodes with an open stream (an agent connected), sorted, each once. */
    public synchronized List<String> subscribedNodes() {
        java.util.TreeSet<String> nodes = new java.util.TreeSet<>();
        for (Subscription s : subscriptions) {
            nodes.add(s.node);
        }
        return List.copyOf(nodes);
    }

    /** Groups used as rule peers (sent to agents as AddressGroups). */
    public synchronized int addressGroupCount() {
        int n = 0;
        for (Group g : groups.values()) {
            if (!g.addressOf.isEmpty()) {
                n++;
            }
        }
        return n;
    }

    /** Groups policies apply to (sent to agents as AppliedToGroups). */
    public synchronized int appliedToGroupCount() {
        int n = 0;
        for (Group g : groups.values()) {
            if (g.usedAsAppliedTo()) {
                n++;
            }
        }
        return n;
    }
}
