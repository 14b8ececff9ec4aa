package dev.weft.agent.policy;

import dev.weft.agent.node.PodInterface;
import dev.weft.agent.openflow.FlowMod;
import dev.weft.agent.openflow.OfEndpoint;
import dev.weft.agent.pipeline.Datapath;
import dev.weft.proto.controlplane.v1.ObjectKind;
import dev.weft.proto.controlplane.v1.PolicyEvent;
import dev.weft.proto.controlplane.v1.PolicyType;
import dev.weft.proto.controlplane.v1.Protocol;
import org.junit.jupiter.api.Test;

import java.util.Arrays;
import java.util.HashSet;
import java.util.List;
import java.util.Map;
import java.util.Set;
import java.util.regex.Matcher;
import java.util.regex.Pattern;

import static dev.weft.agent.policy.Events.*;
import static dev.weft.agent.policy.PolicyCompilerTest.pod;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * Incremental policy flows: after every event, recompiling only the touched policies leaves exactly the flows a full
 * compilation gives (shared match flows included). The datapath is not connected: its store is the desired state.
 */
class PolicyFlowsTest {

    static final Map<String, PodInterface> PODS = Map.of("ns/web", pod("ns", "web", "10.0.0.2", 7),
            "ns/db", pod("ns", "db", "10.0.0.3", 8));

    final PolicyState state = new PolicyState();
    Map<String, PodInterface> pods = PODS;
    final Datapath dp = new Datapath(OfEndpoint.parse("unix:/nonexistent/weft-test.mgmt"), new Datapath.RoundStore() {
        public int load() {
            return 0;
        }

        public void save(int round) {
        }
    });
    final NetworkPolicyFeature flows = new NetworkPolicyFeature(dp, () -> { });

    void event(PolicyEvent e) {
        assertEquals(null, state.apply(e));
        Set<String> dirty = new HashSet<>();
        switch (e.getKind()) {
            case NETWORK_POLICY -> dirty.add(e.getName());
            case ADDRESS_GROUP -> dirty.addAll(NetworkPolicyFeature.usingGroup(state, e.getName(), false));
            default -> dirty.addAll(NetworkPolicyFeature.usingGroup(state, e.getName(), true));
        }
        flows.update(state, pods, dirty);
        assertSameAsFullCompile();
    }

    void assertSameAsFullCompile() {
        PolicyCompiler.ConjIds ids = new PolicyCompiler.ConjIds();
        List<String> full = PolicyCompiler.compile(state, pods, ids).flows().stream().map(FlowMod::toString)
                .map(f -> normalize(f, ids.ruleKeys())).sorted().toList();
        List<String> incremental = Arrays.stream(dp.storedFlows(NetworkPolicyFeature.OWNER)).map(FlowMod::decodeAdd)
                .map(FlowMod::toString).map(f -> normalize(f, flows.conjIds().ruleKeys())).sorted().toList();
        assertEquals(full, incremental);
    }

    /** Conjunction ids replaced by their rule keys, actions sorted: two runs numbering rules differently compare. */
    static String normalize(String flow, Map<Long, String> keys) {
        Matcher m = Pattern.compile("(conjunction\\(|conj_id=)(\\d+)").matcher(flow);
        StringBuilder sb = new StringBuilder();
        while (m.find()) {
            m.appendReplacement(sb, Matcher.quoteReplacement(m.group(1) + keys.get(Long.parseLong(m.group(2)))));
        }
        m.appendTail(sb);
        String s = sb.toString();
        int a = s.indexOf(" actions=");
        if (a < 0 || !s.contains("conjunction(")) {
            return s;
        }
        String[] acts = s.substring(a + 9).split(",(?=conjunction)");
        Arrays.sort(acts);
        return s.substring(0, a + 9) + String.join(",", acts);
    }

    @Test
    void recompilingTouchedPoliciesGivesTheFullCompilation() {
        event(addressGroup("ag", member("ns", "client", "10.0.0.9"), member("ns", "other", "10.0.0.10")));
        event(appliedToGroup("atg", member("ns", "web", "10.0.0.2")));
        event(policy(PolicyEvent.Type.ADDED, policy("p1", "ns", "a", 1, List.of("atg"), List.of(PolicyType.INGRESS),
                ingressFrom(0, List.of("ag"), List.of(), port(Protocol.TCP, 80)))));
        event(policy(PolicyEvent.Type.ADDED, policy("p2", "ns", "b", 1, List.of("atg"), List.of(PolicyType.INGRESS, PolicyType.EGRESS),
                ingressFrom(0, List.of("ag"), List.of(), port(Protocol.UDP, 53)), egressTo(1, List.of("ag")))));
        List<String> stored = Arrays.stream(dp.storedFlows(NetworkPolicyFeature.OWNER)).map(f -> FlowMod.decodeAdd(f).toString()).toList();
        assertTrue(stored.stream().anyMatch(f -> f.contains("nw_src=10.0.0.9 actions=conjunction(") && f.split("conjunction").length == 3),
                "one shared match flow with both conjunctions: " + stored);
        // a patch of the address group touches both policies; removing one policy keeps the shared flows for the other
        event(addressGroupPatch("ag", List.of(member("ns", "new", "10.0.0.11")), List.of(member("ns", "other", "10.0.0.10"))));
        event(policy(PolicyEvent.Type.MODIFIED, policy("p1", "ns", "a", 2, List.of("atg"), List.of(PolicyType.INGRESS),
                ingressFrom(0, List.of("ag"), List.of(), port(Protocol.TCP, 8080)))));
        event(deleted(ObjectKind.NETWORK_POLICY, "p1"));
        event(appliedToGroup("atg", member("ns", "web", "10.0.0.2"), member("ns", "db", "10.0.0.3")));
        event(policy(PolicyEvent.Type.ADDED, policy("p3", "ns", "c", 1, List.of("atg"), List.of(PolicyType.INGRESS),
                ingressFrom(0, List.of(), List.of()))));
        // a local pod went: every policy is recompiled (as on PolicyController's RECOMPUTE)
        pods = Map.of("ns/web", PODS.get("ns/web"));
        flows.update(state, pods, flows.all(state));
        assertSameAsFullCompile();
        pods = PODS;
        flows.update(state, pods, flows.all(state));
        assertSameAsFullCompile();
        event(deleted(ObjectKind.ADDRESS_GROUP, "ag"));
        event(deleted(ObjectKind.NETWORK_POLICY, "p2"));
        event(deleted(ObjectKind.NETWORK_POLICY, "p3"));
        assertEquals(0, dp.storedFlows(NetworkPolicyFeature.OWNER).length, "nothing left");
        assertTrue(flows.views().isEmpty());
        assertTrue(flows.conjIds().ruleKeys().isEmpty(), "conjunction ids released");
    }
}
