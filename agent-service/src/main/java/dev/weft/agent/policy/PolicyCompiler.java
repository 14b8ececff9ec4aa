package dev.weft.agent.policy;

import dev.weft.agent.node.PodInterface;
import dev.weft.agent.openflow.FlowMod;
import dev.weft.agent.openflow.Match;
import dev.weft.agent.openflow.OfAction;
import dev.weft.agent.pipeline.Cookie;
import dev.weft.agent.pipeline.FlowPriority;
import dev.weft.agent.pipeline.PipelineTable;
import dev.weft.net.AddressFamily;
import dev.weft.net.IpPrefix;
import dev.weft.proto.controlplane.v1.Direction;
import dev.weft.proto.controlplane.v1.IpBlock;
import dev.weft.proto.controlplane.v1.NamedPort;
import dev.weft.proto.controlplane.v1.NetworkPolicy;
import dev.weft.proto.controlplane.v1.NetworkPolicyRule;
import dev.weft.proto.controlplane.v1.PolicyType;
import dev.weft.proto.controlplane.v1.Protocol;
import dev.weft.proto.controlplane.v1.Service;

import java.util.ArrayList;
import java.util.Collection;
import java.util.HashMap;
import java.util.HashSet;
import java.util.LinkedHashMap;
import java.util.LinkedHashSet;
import java.util.List;
import java.util.Map;
import java.util.Set;
import java.util.TreeMap;
import java.util.function.UnaryOperator;

import static dev.weft.agent.pipeline.FlowBuilder.flow;
import static dev.weft.agent.pipeline.PipelineFields.TARGET_OF_PORT_FIELD;

/**
 * Translates the node's policies into conjunctive flows, as Antrea does and as the Antrea walkthrough shows:
 * <ul>
 *   <li>each rule is a conjunction: one clause per dimension (peers, the rule's local pods, services); a match flow
 *       per value at {@link #MATCH_PRIORITY} carries {@code conjunction(id,k/n)}, and {@code conj_id=id} at
 *       {@link #ACTION_PRIORITY} allows;</li>
 *   <li>ingress rules live in IngressRule (90), "to" on the target's OF port in {@code TargetOFPortField}; egress
 *       rules in EgressRule (50), "from" on the pod's in_port;</li>
 *   <li>a match flow wanted by several rules is one flow with all their conjunction actions;</li>
 *   <li>isolated pods get a default drop in EgressDefaultRule (60) / IngressDefaultRule (100);</li>
 *   <li>ipBlock excepts are subtracted (CIDR arithmetic), named ports resolved on this node's pods (ingress) or on
 *       the peers (egress), and a rule with a single dimension gets a second, match-all clause (a conjunction needs
 *       two).</li>
 * </ul>
 * Pure: the same state gives the same flows, so updates are computed as deltas against what is installed.
 */
public final class PolicyCompiler {

    /** The flows carrying conjunction clauses. */
    public static final FlowPriority MATCH_PRIORITY = FlowPriority.NORMAL;
    /** The {@code conj_id} flows acting on a complete conjunction. */
    public static final FlowPriority ACTION_PRIORITY = FlowPriority.LOW;
    /** The default drops of isolated pods (in the default-rule tables, alone there with the miss flow). */
    public static final FlowPriority ISOLATION_PRIORITY = FlowPriority.NORMAL;
    /** A logged policy's flow to the agent, above the isolation drop it logs for. */
    public static final FlowPriority DENIED_LOG_PRIORITY = FlowPriority.HIGH;

    /** Per policy: what the CLI shows and how status is reported. */
    public record PolicyView(String name, String namespace, String sourceName, String uid, long generation,
                             List<String> appliedToGroups, int rules, Set<Long> conjIds, Set<Integer> isolatedPorts,
                             int flows) {
    }

    public record Compiled(List<FlowMod> flows, Map<String, PolicyView> views, List<String> problems) {
    }

    /** Stable conjunction ids per rule key, so an unchanged rule keeps its flows across recomputations. */
    public static final class ConjIds {
        private final Map<String, Long> ids = new HashMap<>();
        private long next = 1;

        long of(String ruleKey) {
            return ids.computeIfAbsent(ruleKey, k -> next++);
        }

        void retainOnly(Set<String> keys) {
            ids.keySet().retainAll(keys);
        }

        /** Rule key by id (tests compare flows of differently numbered runs). */
        Map<Long, String> ruleKeys() {
            Map<Long, String> out = new HashMap<>();
            ids.forEach((k, v) -> out.put(v, k));
            return out;
        }

        void release(Collection<String> keys) {
            ids.keySet().removeAll(keys);
        }
    }

    private record FlowKey(PipelineTable table, FlowPriority priority, Match match) {
    }

    private final Map<FlowKey, List<OfAction.Conjunction>> matchFlows = new LinkedHashMap<>();
    private final Map<FlowKey, Cookie> matchCookies = new HashMap<>();
    private final List<FlowMod> otherFlows = new ArrayList<>();
    private final Set<FlowKey> otherKeys = new HashSet<>();
    private final List<String> problems = new ArrayList<>();

    private PolicyCompiler() {
    }

    public static Compiled compile(PolicyState state, Map<String, PodInterface> localPods, ConjIds conjIds) {
        return new PolicyCompiler().run(state, localPods, conjIds);
    }

    private Compiled run(PolicyState state, Map<String, PodInterface> localPods, ConjIds conjIds) {
        Map<String, PolicyView> views = new TreeMap<>();
        Set<String> usedRuleKeys = new HashSet<>();
        Map<Integer, Cookie> ingressIsolated = new TreeMap<>();
        Map<Integer, Cookie> egressIsolated = new TreeMap<>();
        for (NetworkPolicy p : state.policies.values()) {
            PolicyView v = compilePolicy(state, p, localPods, conjIds, usedRuleKeys, ingressIsolated, egressIsolated);
            views.put(p.getName(), v);
        }
        conjIds.retainOnly(usedRuleKeys);
        List<FlowMod> flows = new ArrayList<>(otherFlows);
        flows.addAll(matchFlowMods());
        isolationFlows(flows, ingressIsolated, egressIsolated);
        return new Compiled(flows, views, List.copyOf(problems));
    }

    private PolicyView compilePolicy(PolicyState state, NetworkPolicy p, Map<String, PodInterface> localPods,
                                     ConjIds conjIds, Set<String> usedRuleKeys, Map<Integer, Cookie> ingressIsolated,
                                     Map<Integer, Cookie> egressIsolated) {
        List<PodInterface> targets = new ArrayList<>();
        Set<String> seen = new HashSet<>();
        for (String g : p.getAppliedToGroupsList()) {
            Map<String, PolicyState.Member> members = state.appliedToGroups.get(g);
            if (members == null) {
                continue;
            }
            for (PolicyState.Member m : members.values()) {
                PodInterface pod = localPods.get(m.podKey());
                if (pod != null && pod.ofport() > 0 && seen.add(pod.key())) {
                    targets.add(pod);
                }
            }
        }
        Set<Long> ids = new LinkedHashSet<>();
        int before = flowCount();
        for (NetworkPolicyRule r : p.getRulesList()) {
            String ruleKey = p.getName() + "/" + r.getDirection() + "/" + r.getIndex();
            try {
                compileRule(state, p, r, ruleKey, targets, conjIds, usedRuleKeys, ids);
            } catch (IllegalArgumentException e) {
                problems.add("policy " + p.getSource().getNamespace() + "/" + p.getSource().getName() + " rule "
                        + r.getIndex() + ": " + e.getMessage());
            }
        }
        Set<Integer> isolated = new LinkedHashSet<>();
        for (PodInterface t : targets) {
            Cookie c = Cookie.of(Cookie.Category.POLICY_ISOLATION, t.ofport());
            if (p.getPolicyTypesList().contains(PolicyType.INGRESS)) {
                ingressIsolated.put(t.ofport(), c);
                isolated.add(t.ofport());
            }
            if (p.getPolicyTypesList().contains(PolicyType.EGRESS)) {
                egressIsolated.put(t.ofport(), c);
                isolated.add(t.ofport());
            }
        }
        if (p.getLogDenied()) {
            deniedLogFlows(p, targets);
        }
        return new PolicyView(p.getName(), p.getSource().getNamespace(), p.getSource().getName(),
                p.getSource().getUid(), p.getSource().getGeneration(), List.copyOf(p.getAppliedToGroupsList()),
                p.getRulesCount(), Set.copyOf(ids), Set.copyOf(isolated), flowCount() - before + isolated.size());
    }

    /**
     * A logged policy ({@code weft.dev/log: "true"}): above each isolation drop of its pods, a flow with the same match
     * that sends the packet to the agent through the denied-connection meter instead (the packet is dropped all the
     * same: nothing forwards it). Only packets no allow rule matched reach the default-rule tables, and established
     * connections never do (ConntrackState), so each is a denied new connection. A separate flow rather than other
     * actions on the shared drop: a pod isolated by a logged and an unlogged policy keeps one drop and one log flow,
     * each counted by the policies wanting it.
     */
    private void deniedLogFlows(NetworkPolicy p, List<PodInterface> targets) {
        List<OfAction> toAgent = List.of(new OfAction.Meter(DeniedConnections.METER_ID),
                new OfAction.Controller(DeniedConnections.MAX_LEN));
        for (PodInterface t : targets) {
            Cookie c = Cookie.of(Cookie.Category.DENIED_LOG, t.ofport());
            if (p.getPolicyTypesList().contains(PolicyType.INGRESS)) {
                FlowMod f = flow(PipelineTable.INGRESS_DEFAULT_RULE, DENIED_LOG_PRIORITY).cookie(c)
                        .match(m -> m.ip().reg(TARGET_OF_PORT_FIELD, t.ofport())).build();
                otherFlows.add(new FlowMod(f.table(), f.priority(), f.cookie(), f.match(), toAgent, -1));
            }
            if (p.getPolicyTypesList().contains(PolicyType.EGRESS)) {
                FlowMod f = flow(PipelineTable.EGRESS_DEFAULT_RULE, DENIED_LOG_PRIORITY).cookie(c)
                        .match(m -> m.ip().inPort(t.ofport())).build();
                otherFlows.add(new FlowMod(f.table(), f.priority(), f.cookie(), f.match(), toAgent, -1));
            }
        }
    }

    /**
     * One policy's share of the flows, for incremental updates: its conjunction match flows carrying only its own
     * conjunction actions (another policy may want the same match: the caller merges), and its own flows (conj_id
     * actions, isolation drops; an isolation drop can be wanted by several policies too).
     */
    record Part(PolicyView view, List<FlowMod> matchFlows, List<FlowMod> ownFlows, Set<String> ruleKeys,
                List<String> problems) {
    }

    static Part compilePart(PolicyState state, NetworkPolicy p, Map<String, PodInterface> localPods, ConjIds conjIds) {
        PolicyCompiler c = new PolicyCompiler();
        Set<String> used = new HashSet<>();
        Map<Integer, Cookie> ingressIsolated = new TreeMap<>();
        Map<Integer, Cookie> egressIsolated = new TreeMap<>();
        PolicyView view = c.compilePolicy(state, p, localPods, conjIds, used, ingressIsolated, egressIsolated);
        List<FlowMod> own = new ArrayList<>(c.otherFlows);
        c.isolationFlows(own, ingressIsolated, egressIsolated);
        return new Part(view, c.matchFlowMods(), own, used, List.copyOf(c.problems));
    }

    private List<FlowMod> matchFlowMods() {
        List<FlowMod> flows = new ArrayList<>(matchFlows.size());
        for (Map.Entry<FlowKey, List<OfAction.Conjunction>> e : matchFlows.entrySet()) {
            FlowKey k = e.getKey();
            flows.add(flow(k.table, k.priority).cookie(matchCookies.get(k)).match(k.match).conjunctions(sortedConjunctions(e.getValue()))
                    .build());
        }
        return flows;
    }

    static List<OfAction> sortedActions(Collection<OfAction.Conjunction> conjunctions) {
        return List.copyOf(sortedConjunctions(conjunctions));
    }

    private static List<OfAction.Conjunction> sortedConjunctions(Collection<OfAction.Conjunction> conjunctions) {
        List<OfAction.Conjunction> actions = new ArrayList<>(conjunctions);
        actions.sort((a, b) -> a.id() != b.id() ? Long.compare(a.id(), b.id()) : Integer.compare(a.clause(), b.clause()));
        return actions;
    }

    private void isolationFlows(List<FlowMod> flows, Map<Integer, Cookie> ingressIsolated, Map<Integer, Cookie> egressIsolated) {
        ingressIsolated.forEach((port, c) -> flows.add(flow(PipelineTable.INGRESS_DEFAULT_RULE, ISOLATION_PRIORITY).cookie(c)
                .match(m -> m.ip().reg(TARGET_OF_PORT_FIELD, port)).drop().build()));
        egressIsolated.forEach((port, c) -> flows.add(flow(PipelineTable.EGRESS_DEFAULT_RULE, ISOLATION_PRIORITY).cookie(c)
                .match(m -> m.ip().inPort(port)).drop().build()));
    }

    private int flowCount() {
        return otherFlows.size() + matchFlows.size();
    }

    /** A rule with concrete services and the members on each side, after named-port resolution. */
    private record SubRule(String key, List<PodInterface> targets, List<UnaryOperator<Match.Builder>> peers,
                           boolean anyPeer, List<UnaryOperator<Match.Builder>> services) {
    }

    private void compileRule(PolicyState state, NetworkPolicy p, NetworkPolicyRule r, String ruleKey,
                             List<PodInterface> targets, ConjIds conjIds, Set<String> used, Set<Long> ids) {
        if (targets.isEmpty()) {
            return; // no local pod is affected on this node
        }
        boolean ingress = r.getDirection() == Direction.IN;
        if (!ingress && r.getDirection() != Direction.OUT) {
            throw new IllegalArgumentException("rule without direction");
        }
        List<PolicyState.Member> peerMembers = new ArrayList<>();
        for (String g : r.getPeer().getAddressGroupsList()) {
            Map<String, PolicyState.Member> members = state.addressGroups.get(g);
            if (members != null) {
                peerMembers.addAll(members.values());
            }
        }
        boolean anyPeer = r.getPeer().getAddressGroupsCount() == 0 && r.getPeer().getIpBlocksCount() == 0;
        List<String> blockCidrs = new ArrayList<>();
        for (IpBlock b : r.getPeer().getIpBlocksList()) {
            IpPrefix cidr = IpPrefix.parse(b.getCidr());
            if (cidr.family() != AddressFamily.IPV4) {
                continue;
            }
            for (IpPrefix c : cidr.subtract(b.getExceptList().stream().map(IpPrefix::parse).toList())) {
                // A host without "/32", as ovs-ofctl shows a match value.
                blockCidrs.add(c.prefixLength() == 32 ? c.network().toString() : c.toString());
            }
        }

        List<SubRule> subRules = new ArrayList<>();
        List<Service> numbered = r.getServicesList().stream().filter(s -> !s.hasPortName() || s.getPortName().isEmpty()).toList();
        List<Service> named = r.getServicesList().stream().filter(s -> s.hasPortName() && !s.getPortName().isEmpty()).toList();
        if (r.getServicesCount() == 0 || !numbered.isEmpty()) {
            List<UnaryOperator<Match.Builder>> services = new ArrayList<>();
            for (Service s : numbered) {
                services.addAll(serviceMatches(protocolNumber(s.getProtocol()), s.getPortNumber(), s.getEndPort()));
            }
            subRules.add(new SubRule(ruleKey, targets, peerMatches(ingress, peerMembers, blockCidrs), anyPeer, services));
        }
        for (Service s : named) {
            int proto = protocolNumber(s.getProtocol());
            // resolve the name on the side that owns the port: the targets (ingress) or the peers (egress)
            Map<Integer, List<Object>> byPort = new TreeMap<>();
            if (ingress) {
                for (PodInterface t : targets) {
                    PolicyState.Member m = findMember(state, p, t);
                    Integer port = m == null ? null : resolve(m, s.getPortName(), s.getProtocol());
                    if (port != null) {
                        byPort.computeIfAbsent(port, k -> new ArrayList<>()).add(t);
                    }
                }
                for (Map.Entry<Integer, List<Object>> e : byPort.entrySet()) {
                    List<PodInterface> ts = e.getValue().stream().map(o -> (PodInterface) o).toList();
                    subRules.add(new SubRule(ruleKey + "/" + s.getPortName() + "=" + e.getKey(), ts,
                            peerMatches(true, peerMembers, blockCidrs), anyPeer, serviceMatches(proto, e.getKey(), 0)));
                }
            } else {
                for (PolicyState.Member m : peerMembers) {
                    Integer port = resolve(m, s.getPortName(), s.getProtocol());
                    if (port != null) {
                        byPort.computeIfAbsent(port, k -> new ArrayList<>()).add(m);
                    }
                }
                for (Map.Entry<Integer, List<Object>> e : byPort.entrySet()) {
                    List<PolicyState.Member> ms = e.getValue().stream().map(o -> (PolicyState.Member) o).toList();
                    subRules.add(new SubRule(ruleKey + "/" + s.getPortName() + "=" + e.getKey(), targets,
                            peerMatches(false, ms, List.of()), false, serviceMatches(proto, e.getKey(), 0)));
                }
            }
        }
        for (SubRule sr : subRules) {
            if (!sr.anyPeer && sr.peers.isEmpty()) {
                continue; // peers selected nothing (yet): the rule allows nothing
            }
            long id = conjIds.of(sr.key);
            used.add(sr.key);
            ids.add(id);
            emitConjunction(ingress, id, sr);
        }
    }

    private static PolicyState.Member findMember(PolicyState state, NetworkPolicy p, PodInterface t) {
        for (String g : p.getAppliedToGroupsList()) {
            Map<String, PolicyState.Member> members = state.appliedToGroups.get(g);
            PolicyState.Member m = members == null ? null : members.get(t.key());
            if (m != null) {
                return m;
            }
        }
        return null;
    }

    private static Integer resolve(PolicyState.Member m, String name, Protocol proto) {
        Protocol want = proto == Protocol.PROTOCOL_UNSPECIFIED ? Protocol.TCP : proto;
        for (NamedPort np : m.namedPorts()) {
            Protocol have = np.getProtocol() == Protocol.PROTOCOL_UNSPECIFIED ? Protocol.TCP : np.getProtocol();
            if (np.getName().equals(name) && have == want) {
                return np.getPort();
            }
        }
        return null;
    }

    private static int protocolNumber(Protocol p) {
        return switch (p) {
            case UDP -> Match.PROTO_UDP;
            case SCTP -> Match.PROTO_SCTP;
            default -> Match.PROTO_TCP; // Kubernetes' default protocol
        };
    }

    private static List<UnaryOperator<Match.Builder>> serviceMatches(int proto, int port, int endPort) {
        List<UnaryOperator<Match.Builder>> out = new ArrayList<>();
        if (port == 0) {
            out.add(m -> m.ipProto(proto));
        } else if (endPort > port) {
            for (PortRanges.PortMask pm : PortRanges.portRange(port, endPort)) {
                out.add(m -> m.tpDst(proto, pm.value(), pm.mask()));
            }
        } else {
            out.add(m -> m.tpDst(proto, port, 0xffff));
        }
        return out;
    }

    private static List<UnaryOperator<Match.Builder>> peerMatches(boolean ingress, Collection<PolicyState.Member> members,
                                                                  List<String> cidrs) {
        Set<String> addrs = new LinkedHashSet<>();
        for (PolicyState.Member m : members) {
            for (int ip : m.ipv4()) {
                addrs.add(Match.ipv4(ip & 0xffffffffL));
            }
        }
        addrs.addAll(cidrs);
        List<UnaryOperator<Match.Builder>> out = new ArrayList<>();
        for (String a : addrs) {
            out.add(ingress ? m -> m.nwSrc(a) : m -> m.nwDst(a));
        }
        return out;
    }

    private void emitConjunction(boolean ingress, long id, SubRule sr) {
        PipelineTable table = ingress ? PipelineTable.INGRESS_RULE : PipelineTable.EGRESS_RULE;
        List<List<UnaryOperator<Match.Builder>>> dims = new ArrayList<>();
        if (!sr.anyPeer) {
            dims.add(sr.peers);
        }
        List<UnaryOperator<Match.Builder>> local = new ArrayList<>();
        for (PodInterface t : sr.targets) {
            int port = t.ofport();
            local.add(ingress ? m -> m.ip().reg(TARGET_OF_PORT_FIELD, port) : m -> m.ip().inPort(port));
        }
        dims.add(local);
        if (!sr.services.isEmpty()) {
            dims.add(sr.services);
        }
        if (dims.size() == 1) {
            dims.add(List.of(m -> m.ip())); // a conjunction needs two clauses: add a match-all one
        }
        int n = dims.size();
        Cookie cookie = Cookie.of(Cookie.Category.POLICY_RULE, id);
        for (int k = 0; k < n; k++) {
            for (UnaryOperator<Match.Builder> mb : dims.get(k)) {
                Match match = mb.apply(Match.builder().ip()).build();
                FlowKey key = new FlowKey(table, MATCH_PRIORITY, match);
                List<OfAction.Conjunction> acts = matchFlows.computeIfAbsent(key, x -> new ArrayList<>());
                OfAction.Conjunction c = new OfAction.Conjunction(id, k + 1, n);
                if (!acts.contains(c)) {
                    acts.add(c);
                }
                matchCookies.putIfAbsent(key, cookie);
            }
        }
        PipelineTable next = ingress ? PipelineTable.CONNTRACK_COMMIT : PipelineTable.L3_FORWARDING;
        Match actionMatch = Match.builder().conjId(id).ip().build();
        FlowKey ak = new FlowKey(table, ACTION_PRIORITY, actionMatch);
        if (otherKeys.add(ak)) {
            otherFlows.add(flow(table, ACTION_PRIORITY).cookie(cookie).match(actionMatch).resubmit(next).build());
        }
    }
}
