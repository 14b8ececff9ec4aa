package dev.weft.agent.policy;

import dev.weft.agent.node.PodInterface;
import dev.weft.agent.openflow.EncodedFlow;
import dev.weft.agent.openflow.FlowMod;
import dev.weft.agent.openflow.MeterMod;
import dev.weft.agent.openflow.OfAction;
import dev.weft.agent.pipeline.Cookie;
import dev.weft.agent.pipeline.Datapath;
import dev.weft.agent.pipeline.FlowStore;
import dev.weft.agent.pipeline.PipelineFeature;
import dev.weft.agent.pipeline.PipelineTable;
import dev.weft.proto.controlplane.v1.NetworkPolicy;

import java.util.ArrayList;
import java.util.Collections;
import java.util.HashMap;
import java.util.HashSet;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Set;
import java.util.TreeMap;

/**
 * The NetworkPolicy feature: the policy flows on the bridge (conjunctions in EgressRule / IngressRule, isolation drops
 * in EgressDefaultRule / IngressDefaultRule, see {@link PolicyCompiler}), owned per policy so that an event
 * recompiles only the policies it touches and sends only what changed (a full recompilation of 40k flows for each
 * event made the heap grow with transient objects). A match flow wanted by several policies is one flow carrying
 * every policy's conjunction actions: a policy's update removes its own conjunction ids from the installed flow and
 * adds its new ones, so the flow lives as long as one conjunction needs it (its conjunction ids are its reference
 * count). conj_id and isolation flows are counted per policy wanting them. {@link #update} runs on the
 * {@link PolicyController}'s worker thread only; the datapath's reactions (local pods changed, switch back) ask that
 * worker to recompile everything.
 */
public final class NetworkPolicyFeature implements PipelineFeature {

    /** The feature's one keyed owner in the flow store. */
    static final long OWNER = FlowStore.owner(Cookie.Category.POLICY_RULE, 0);
    private static final Declaration DECLARATION = new Declaration("NetworkPolicy",
            List.of(PipelineTable.EGRESS_RULE, PipelineTable.EGRESS_DEFAULT_RULE, PipelineTable.INGRESS_RULE,
                    PipelineTable.INGRESS_DEFAULT_RULE),
            Set.of(Cookie.Category.POLICY_RULE, Cookie.Category.POLICY_ISOLATION, Cookie.Category.DENIED_LOG));

    /**
     * What one policy has on the bridge: the keys (table, priority, match) of its conjunction match flows and of its
     * own flows (conj_id actions, isolation drops). Keys, not encoded flows: a match flow shared by many policies is
     * re-encoded each time one of them changes its conjunctions, and a policy holding the bytes of its own moment
     * would keep every past version alive (memory quadratic in the policies sharing a pod).
     */
    private record Owned(PolicyCompiler.PolicyView view, FlowMod.FlowKey[] matchFlows, FlowMod.FlowKey[] ownFlows,
                         Set<String> ruleKeys) {
    }

    /** The outcome of an update: problems found while compiling, and how many flows changed. */
    record Update(List<String> problems, int adds, int deletes) {
    }

    private final Datapath datapath;
    private final Runnable recomputeAll;
    private final PolicyCompiler.ConjIds conjIds = new PolicyCompiler.ConjIds();
    private final Map<String, Owned> owned = new HashMap<>();
    /** How many policies want each conj_id / isolation flow. */
    private final Map<FlowMod.FlowKey, Integer> ownRefs = new HashMap<>();
    private final Set<String> failed = new HashSet<>();
    private volatile Map<String, PolicyCompiler.PolicyView> views = Map.of();
    /** Logged policies (namespace/name) by direction and isolated port, for the denied-connection packet-ins. */
    private volatile Map<String, List<String>> loggedBy = Map.of();
    private volatile DeniedConnections.Listener deniedListener = d -> {
    };
    private volatile MeterMod deniedMeter = MeterMod.packetsPerSecond(DeniedConnections.METER_ID, 100, 50);
    private final java.util.concurrent.atomic.AtomicLong deniedUnreadable = new java.util.concurrent.atomic.AtomicLong();

    /** @param recomputeAll asks for every policy to be recompiled (on the worker thread) */
    public NetworkPolicyFeature(Datapath datapath, Runnable recomputeAll) {
        this.datapath = datapath;
        this.recomputeAll = recomputeAll;
    }

    @Override
    public Declaration declaration() {
        return DECLARATION;
    }

    /** The denied-connection meter (before any flow uses it) and the packet-in handler of the logged drops. */
    @Override
    public void registered() {
        datapath.declareMeter(this, deniedMeter);
        datapath.packetIns().register(Cookie.Category.DENIED_LOG, this::deniedPacketIn);
    }

    /**
     * Where denied connections of logged policies go, and the meter's rate (packets per second) and burst: the most
     * the agent is asked to log, whatever the traffic.
     */
    void onDenied(DeniedConnections.Listener listener, long perSecond, long burst) {
        deniedListener = listener;
        deniedMeter = MeterMod.packetsPerSecond(DeniedConnections.METER_ID, perSecond, burst);
        datapath.declareMeter(this, deniedMeter);
    }

    /** DENIED_LOG packet-ins that were not IPv4 or came from an unexpected table. */
    long deniedUnreadable() {
        return deniedUnreadable.get();
    }

    private void deniedPacketIn(dev.weft.agent.openflow.PacketIn p) {
        DeniedConnections.Denied d = DeniedConnections.read(p, loggedBy, datapath.localPods().values());
        if (d == null) {
            deniedUnreadable.incrementAndGet();
            return;
        }
        deniedListener.denied(d);
    }

    /** Which logged policies isolate which port in which direction (after each update, from the policies' views). */
    private void indexLogged(PolicyState state) {
        Map<String, List<String>> index = new HashMap<>();
        for (PolicyCompiler.PolicyView v : views.values()) {
            NetworkPolicy p = state.policies.get(v.name());
            if (p == null || !p.getLogDenied()) {
                continue;
            }
            String name = v.namespace() + "/" + v.sourceName();
            for (int port : v.isolatedPorts()) {
                for (var type : p.getPolicyTypesList()) {
                    String dir = type == dev.weft.proto.controlplane.v1.PolicyType.INGRESS ? "Ingress" : "Egress";
                    index.computeIfAbsent(DeniedConnections.key(dir, port), k -> new ArrayList<>()).add(name);
                }
            }
        }
        index.values().forEach(Collections::sort);
        loggedBy = index;
    }

    /** Policies apply to local pods by OpenFlow port: new ports, gone ports. */
    @Override
    public void localPodsChanged() {
        recomputeAll.run();
    }

    /** Re-checks every policy's flows after the switch came back. */
    @Override
    public void switchReady() {
        recomputeAll.run();
    }

    PolicyCompiler.ConjIds conjIds() {
        return conjIds;
    }

    Map<String, PolicyCompiler.PolicyView> views() {
        return views;
    }

    /** Every policy known now or before (a new snapshot, pods changed, Open vSwitch back). */
    Set<String> all(PolicyState state) {
        Set<String> names = new HashSet<>(owned.keySet());
        names.addAll(state.policies.keySet());
        return names;
    }

    /** The policies an event on this address group or applied-to group changes. */
    static Set<String> usingGroup(PolicyState state, String group, boolean appliedTo) {
        Set<String> names = new HashSet<>();
        for (NetworkPolicy p : state.policies.values()) {
            boolean uses = appliedTo ? p.getAppliedToGroupsList().contains(group)
                    : p.getRulesList().stream().anyMatch(r -> r.getPeer().getAddressGroupsList().contains(group));
            if (uses) {
                names.add(p.getName());
            }
        }
        return names;
    }

    /**
     * Recompiles the named policies (gone ones are removed) and applies the difference as one atomic change. On
     * failure nothing is recorded: the same policies are recompiled by the next update.
     */
    Update update(PolicyState state, Map<String, PodInterface> localPods, Set<String> dirty) {
        Set<String> names = new HashSet<>(dirty);
        names.addAll(failed);
        Map<FlowMod.FlowKey, byte[]> changes = new LinkedHashMap<>();
        Map<FlowMod.FlowKey, Integer> refs = new HashMap<>();
        Map<String, Owned> next = new HashMap<>();
        List<String> problems = new ArrayList<>();
        for (String name : names) {
            Owned old = owned.get(name);
            NetworkPolicy p = state.policies.get(name);
            PolicyCompiler.Part part = p == null ? null : PolicyCompiler.compilePart(state, p, localPods, conjIds);
            if (part != null) {
                problems.addAll(part.problems());
            }
            Set<Long> oldIds = old == null ? Set.of() : old.view().conjIds();
            // conjunction match flows: ours out, our new ones in, the other policies' conjunctions kept
            Map<FlowMod.FlowKey, FlowMod> mine = new LinkedHashMap<>();
            Map<FlowMod.FlowKey, byte[]> mineBytes = new HashMap<>();
            if (part != null) {
                for (FlowMod f : part.matchFlows()) {
                    byte[] bytes = f.encode();
                    FlowMod.FlowKey k = EncodedFlow.of(bytes).key();
                    mine.put(k, f);
                    mineBytes.put(k, bytes);
                }
            }
            List<FlowMod.FlowKey> touched = new ArrayList<>(mine.keySet());
            if (old != null) {
                for (FlowMod.FlowKey k : old.matchFlows()) {
                    if (!mine.containsKey(k)) {
                        touched.add(k);
                    }
                }
            }
            List<FlowMod.FlowKey> newMatch = new ArrayList<>(mine.size());
            for (FlowMod.FlowKey k : touched) {
                byte[] cur = changes.containsKey(k) ? changes.get(k) : datapath.installed(OWNER, k);
                List<OfAction.Conjunction> others = new ArrayList<>();
                if (cur != null) {
                    for (OfAction a : EncodedFlow.of(cur).decode().actions()) {
                        if (a instanceof OfAction.Conjunction c && !oldIds.contains(c.id())) {
                            others.add(c);
                        }
                    }
                }
                FlowMod want = mine.get(k);
                if (others.isEmpty()) {
                    byte[] bytes = mineBytes.get(k);
                    changes.put(k, bytes);
                    if (bytes != null) {
                        newMatch.add(k);
                    }
                    continue;
                }
                List<OfAction.Conjunction> all = new ArrayList<>(others);
                if (want != null) {
                    want.actions().forEach(a -> all.add((OfAction.Conjunction) a));
                }
                long minId = all.stream().mapToLong(OfAction.Conjunction::id).min().orElseThrow();
                long cookie = Cookie.of(Cookie.Category.POLICY_RULE, minId).value();
                List<OfAction> actions = PolicyCompiler.sortedActions(all);
                byte[] merged = EncodedFlow.of(cur != null ? cur : mineBytes.get(k)).withActions(cookie, actions).bytes();
                changes.put(k, merged);
                if (want != null) {
                    newMatch.add(k);
                }
            }
            // conj_id actions and isolation drops: counted
            java.util.LinkedHashSet<FlowMod.FlowKey> newOwn = new java.util.LinkedHashSet<>();
            if (old != null) {
                for (FlowMod.FlowKey k : old.ownFlows()) {
                    refs.put(k, refs.getOrDefault(k, ownRefs.getOrDefault(k, 0)) - 1);
                }
            }
            if (part != null) {
                for (FlowMod f : part.ownFlows()) {
                    byte[] bytes = f.encode();
                    FlowMod.FlowKey k = EncodedFlow.of(bytes).key();
                    if (!newOwn.add(k)) {
                        continue;
                    }
                    refs.put(k, refs.getOrDefault(k, ownRefs.getOrDefault(k, 0)) + 1);
                    changes.put(k, bytes);
                }
            }
            if (old != null) {
                for (FlowMod.FlowKey k : old.ownFlows()) {
                    if (refs.get(k) <= 0) {
                        changes.put(k, null);
                    }
                }
            }
            next.put(name, part == null ? null : new Owned(part.view(), newMatch.toArray(FlowMod.FlowKey[]::new),
                    newOwn.toArray(FlowMod.FlowKey[]::new), part.ruleKeys()));
        }
        FlowStore.Patch patch;
        try {
            patch = datapath.applyChanges(this, OWNER, changes);
        } catch (RuntimeException e) {
            failed.addAll(names);
            // show and report what was asked for (not realized) rather than the previous generation
            Map<String, PolicyCompiler.PolicyView> v = new TreeMap<>();
            owned.forEach((name, o) -> v.put(name, o.view()));
            next.forEach((name, o) -> {
                if (o == null) {
                    v.remove(name);
                } else {
                    v.put(name, o.view());
                }
            });
            views = Collections.unmodifiableMap(v);
            throw e;
        }
        failed.clear();
        refs.forEach((k, n) -> {
            if (n > 0) {
                ownRefs.put(k, n);
            } else {
                ownRefs.remove(k);
            }
        });
        for (Map.Entry<String, Owned> e : next.entrySet()) {
            Owned old = e.getValue() == null ? owned.remove(e.getKey()) : owned.put(e.getKey(), e.getValue());
            if (old != null) {
                Set<String> gone = new HashSet<>(old.ruleKeys());
                if (e.getValue() != null) {
                    gone.removeAll(e.getValue().ruleKeys());
                }
                conjIds.release(gone);
            }
        }
        Map<String, PolicyCompiler.PolicyView> v = new TreeMap<>();
        owned.forEach((name, o) -> v.put(name, o.view()));
        views = Collections.unmodifiableMap(v);
        indexLogged(state);
        return new Update(List.copyOf(problems), patch.adds(), patch.deletes());
    }
}
