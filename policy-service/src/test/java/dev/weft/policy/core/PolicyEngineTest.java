package dev.weft.policy.core;

import dev.weft.policy.AgentView;
import dev.weft.proto.controlplane.v1.PolicyEvent;
import io.fabric8.kubernetes.api.model.LabelSelector;
import io.fabric8.kubernetes.api.model.Pod;
import io.fabric8.kubernetes.api.model.PodBuilder;
import io.fabric8.kubernetes.api.model.networking.v1.NetworkPolicy;
import io.fabric8.kubernetes.api.model.networking.v1.NetworkPolicyBuilder;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;

import java.util.ArrayList;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import java.util.Set;

import static dev.weft.policy.K8s.*;
import static org.junit.jupiter.api.Assertions.*;

/** Incremental computation, spans and the per-node event protocol, against agents that check the contract. */
class PolicyEngineTest {

    private final List<PolicyEngine.PolicyError> errors = new ArrayList<>();
    private final PolicyEngine engine = new PolicyEngine(errors::add);
    private final Map<String, Agent> agents = new HashMap<>();

    /** A subscribed node: applies each delivered event to its view. */
    static final class Agent implements NodeSink {
        final String node;
        final AgentView view = new AgentView();
        boolean open = true;

        Agent(String node) {
            this.node = node;
        }

        @Override
        public String nodeName() {
            return node;
        }

        @Override
        public boolean deliver(List<PolicyEvent> events) {
            events.forEach(view::apply);
            return open;
        }
    }

    private Agent agent(String node) {
        return agents.computeIfAbsent(node, n -> {
            Agent a = new Agent(n);
            engine.subscribe(a);
            return a;
        });
    }

    private static String name(String ns, LabelSelector pods) {
        return GroupKey.inNamespace(ns, Selector.of(pods)).hashName();
    }

    @BeforeEach
    void cluster() {
        engine.onNamespace(namespace("ns-a", "team=a"));
        engine.onNamespace(namespace("ns-b", "team=b"));
        engine.onPod(pod("ns-a", "web-1", "app=web", "n1", "10.0.1.1"));
        engine.onPod(pod("ns-a", "web-2", "app=web", "n2", "10.0.2.1"));
        engine.onPod(pod("ns-b", "client-1", "app=client", "n3", "10.0.3.1"));
        engine.onPod(pod("ns-b", "db-1", "app=db", "n3", "10.0.3.2"));
    }

    /** Every agent's view equals what a fresh subscription would receive now. */
    private void assertViewsMatchFreshSnapshots() {
        for (Agent a : agents.values()) {
            Agent fresh = new Agent(a.node);
            engine.subscribe(fresh);
            engine.unsubscribe(fresh);
            assertEquals(fresh.view.digest(), a.view.digest(), "view of " + a.node);
            assertIndexMatchesScan(a.node);
        }
    }

    /** The per-node group index that snapshots read equals a scan of every group. */
    private void assertIndexMatchesScan(String node) {
        Set<Group> scanned = new java.util.HashSet<>();
        engine.groups().values().forEach(g -> {
            if (g.appliedToSpan().contains(node) || g.addressGroupSpan().contains(node)) {
                scanned.add(g);
            }
        });
        assertEquals(scanned, engine.groupsSpanning(node), "groups spanning " + node);
    }

    @Test
    void aSnapshotReadsOnlyTheGroupsOfItsNode() {
        // 1,000 policies on pods of 50 other nodes: a node's snapshot must not walk their groups (a full sync of N
        // agents would read N x all groups).
        List<NetworkPolicy> far = new ArrayList<>();
        for (int i = 0; i < 1000; i++) {
            engine.onPod(pod("ns-b", "far-" + i, "far=f" + i, "far-node-" + (i % 50), "10.1." + (i / 250) + "." + (i % 250 + 1)));
            far.add(ingressPolicy("ns-b", "far-" + i, sel("far=f" + i), List.of(podPeer(sel("far=f" + i))), List.of()));
            engine.onPolicy(far.getLast());
        }
        engine.onPolicy(ingressPolicy("ns-a", "web", sel("app=web"), List.of(podPeer(sel("app=web"))), List.of()));
        assertEquals(Set.of(engine.group(GroupKey.inNamespace("ns-a", Selector.of(sel("app=web"))))), engine.groupsSpanning("n1"));
        assertEquals(20, engine.groupsSpanning("far-node-7").size());
        agent("n1");
        agent("far-node-7");
        engine.onPolicyDeleted(far.get(7));
        engine.onPodDeleted(pod("ns-b", "far-57", "far=f57", "far-node-7", "10.1.0.58"));
        assertEquals(18, engine.groupsSpanning("far-node-7").size());
        assertViewsMatchFreshSnapshots();
    }

    @Test
    void nodesReceiveExactlyTheirSpan() {
        agent("n1");
        agent("n2");
        agent("n3");
        NetworkPolicy np = ingressPolicy("ns-a", "web", sel("app=web"),
                List.of(nsPeer(sel("team=b"), sel("app=client"))), List.of(port("TCP", 80, null)));
        engine.onPolicy(np);
        String uid = np.getMetadata().getUid();
        String web = name("ns-a", sel("app=web"));
        String clients = GroupKey.acrossNamespaces(Selector.of(sel("team=b")), Selector.of(sel("app=client"))).hashName();

        assertEquals(Set.of(uid), agents.get("n1").view.policyNames());
        assertEquals(Set.of("ns-a/web-1"), agents.get("n1").view.appliedToMembers(web), "applied-to restricted to the node");
        assertEquals(Set.of("ns-a/web-2"), agents.get("n2").view.appliedToMembers(web));
        assertEquals(Set.of("ns-b/client-1"), agents.get("n1").view.addressMembers(clients), "address groups cluster-wide");
        assertEquals(Set.of(), agents.get("n3").view.policyNames(), "n3 hosts no pod the policy applies to");
        assertTrue(agents.get("n3").view.addressGroups.isEmpty());
        assertTrue(agents.get("n3").view.appliedToGroups.isEmpty());

        // A web pod lands on n3: n3 gets groups then the policy; n1 and n2 get nothing about it.
        int n1Events = agents.get("n1").view.log.size();
        engine.onPod(pod("ns-a", "web-3", "app=web", "n3", "10.0.3.9"));
        assertEquals(Set.of(uid), agents.get("n3").view.policyNames());
        assertEquals(Set.of("ns-a/web-3"), agents.get("n3").view.appliedToMembers(web));
        assertEquals(n1Events, agents.get("n1").view.log.size());

        // A new client is a patch for every node in the address group's span.
        engine.onPod(pod("ns-b", "client-2", "app=client", "n1", "10.0.1.7"));
        for (String n : List.of("n1", "n2", "n3")) {
            assertEquals(Set.of("ns-b/client-1", "ns-b/client-2"), agents.get(n).view.addressMembers(clients), n);
            PolicyEvent last = agents.get(n).view.log.getLast();
            assertEquals(PolicyEvent.Type.MODIFIED, last.getType());
            assertEquals(1, last.getGroupPatch().getAddedMembersCount());
        }
        assertViewsMatchFreshSnapshots();
    }

    @Test
    void groupsAreSharedAcrossPoliciesAndReleasedWithTheLastOne() {
        NetworkPolicy p1 = ingressPolicy("ns-a", "p1", sel("app=web"), List.of(podPeer(sel("app=web"))), List.of());
        NetworkPolicy p2 = ingressPolicy("ns-a", "p2", expr("app", "In", "web"), List.of(podPeer(sel("app=web"))), List.of());
        engine.onPolicy(p1);
        engine.onPolicy(p2);
        assertEquals(1, engine.groups().size(), "applied-to and address group of both policies are one group");
        Group g = engine.group(GroupKey.inNamespace("ns-a", Selector.of(sel("app=web"))));
        assertEquals(Set.of("n1", "n2"), g.appliedToSpan());
        assertEquals(Set.of("n1", "n2"), g.addressGroupSpan());
        engine.onPolicyDeleted(p1);
        assertEquals(1, engine.groups().size());
        engine.onPolicyDeleted(p2);
        assertEquals(0, engine.groups().size());
    }

    @Test
    void podLabelAndIpChangesPatchOnlyAffectedGroups() {
        agent("n1");
        agent("n3");
        engine.onPolicy(ingressPolicy("ns-b", "db", sel("app=db"), List.of(podPeer(sel("app=client"))), List.of()));
        String clients = name("ns-b", sel("app=client"));
        assertEquals(Set.of("ns-b/client-1"), agents.get("n3").view.addressMembers(clients));
        assertNull(agents.get("n1").view.addressMembers(clients), "n1 hosts no db pod");

        // Relabel db-1 -> it leaves the applied-to group: n3 loses the policy and its groups, in that order.
        engine.onPod(pod("ns-b", "db-1", "app=other", "n3", "10.0.3.2"));
        assertEquals(Set.of(), agents.get("n3").view.policyNames());
        assertTrue(agents.get("n3").view.addressGroups.isEmpty());
        engine.onPod(pod("ns-b", "db-1", "app=db", "n3", "10.0.3.2"));
        assertEquals(1, agents.get("n3").view.policyNames().size());

        // The client's IP changes: the address group member is replaced (old removed, new added).
        engine.onPod(pod("ns-b", "client-1", "app=client", "n3", "10.0.3.100"));
        var members = agents.get("n3").view.addressGroups.get(clients);
        assertEquals(List.of("10.0.3.100"), members.get("ns-b/client-1").getIpsList());
        // An unrelated label change on an unrelated pod sends nothing.
        int before = agents.get("n3").view.log.size();
        engine.onPod(pod("ns-a", "web-1", "app=web,extra=1", "n1", "10.0.1.1"));
        assertEquals(before, agents.get("n3").view.log.size());
        assertViewsMatchFreshSnapshots();
    }

    @Test
    void namespaceLabelChangeMovesPodsInAndOutOfNamespaceSelectorGroups() {
        agent("n1");
        engine.onPolicy(ingressPolicy("ns-a", "p", sel("app=web"), List.of(nsPeer(sel("team=b"), null)), List.of()));
        String teamB = GroupKey.acrossNamespaces(Selector.of(sel("team=b")), Selector.ALL).hashName();
        assertEquals(Set.of("ns-b/client-1", "ns-b/db-1"), agents.get("n1").view.addressMembers(teamB));
        engine.onNamespace(namespace("ns-a", "team=b"));
        assertEquals(Set.of("ns-a/web-1", "ns-a/web-2", "ns-b/client-1", "ns-b/db-1"), agents.get("n1").view.addressMembers(teamB));
        engine.onNamespace(namespace("ns-b", "team=c"));
        assertEquals(Set.of("ns-a/web-1", "ns-a/web-2"), agents.get("n1").view.addressMembers(teamB));
        // A new namespace with matching labels and pods.
        engine.onNamespace(namespace("ns-c", "team=b"));
        engine.onPod(pod("ns-c", "x", "", "n9", "10.0.9.1"));
        assertTrue(agents.get("n1").view.addressMembers(teamB).contains("ns-c/x"));
        assertViewsMatchFreshSnapshots();
    }

    @Test
    void selectorMatchingNoPodIsAnEmptyGroupAndAnyPeerHasNoGroup() {
        agent("n1");
        NetworkPolicy np = new NetworkPolicyBuilder(ingressPolicy("ns-a", "p", sel("app=web"),
                List.of(podPeer(sel("app=nothing"))), List.of()))
                .editSpec().addNewIngress().endIngress().endSpec().build();
        engine.onPolicy(np);
        String nothing = name("ns-a", sel("app=nothing"));
        assertEquals(Set.of(), agents.get("n1").view.addressMembers(nothing), "zero members: matches nothing");
        var policy = agents.get("n1").view.policies.get(np.getMetadata().getUid());
        assertEquals(List.of(nothing), policy.getRules(0).getPeer().getAddressGroupsList());
        assertEquals(0, policy.getRules(1).getPeer().getAddressGroupsCount(), "empty from: any peer");
        assertEquals(0, policy.getRules(1).getPeer().getIpBlocksCount());
        assertEquals(1, policy.getRules(1).getIndex());
    }

    @Test
    void unscheduledAndIpLessPodsAreHandled() {
        agent("n4");
        engine.onPolicy(ingressPolicy("ns-a", "p", sel("app=web"), List.of(podPeer(sel("app=web"))), List.of()));
        String web = name("ns-a", sel("app=web"));
        Pod pending = pod("ns-a", "web-9", "app=web", null, null);
        engine.onPod(pending);
        assertTrue(agents.get("n4").view.policyNames().isEmpty(), "not scheduled: no node span");
        Group g = engine.group(GroupKey.inNamespace("ns-a", Selector.of(sel("app=web"))));
        assertFalse(g.members().stream().anyMatch(p -> p.name().equals("web-9")));
        // Scheduled without IP: applied-to member on n4 (the agent knows it by name), not an address (no IP).
        engine.onPod(pod("ns-a", "web-9", "app=web", "n4", null));
        assertEquals(Set.of("ns-a/web-9"), agents.get("n4").view.appliedToMembers(web));
        assertEquals(Set.of("ns-a/web-1", "ns-a/web-2"), agents.get("n4").view.addressMembers(web));
        engine.onPod(pod("ns-a", "web-9", "app=web", "n4", "10.0.4.1"));
        assertEquals(Set.of("ns-a/web-1", "ns-a/web-2", "ns-a/web-9"), agents.get("n4").view.addressMembers(web));
        // Terminated and host-network pods are not governed by NetworkPolicy.
        engine.onPod(new PodBuilder(pod("ns-a", "web-9", "app=web", "n4", "10.0.4.1")).editStatus().withPhase("Succeeded")
                .endStatus().build());
        assertTrue(agents.get("n4").view.policyNames().isEmpty());
        engine.onPod(new PodBuilder(pod("ns-a", "web-h", "app=web", "n4", "192.168.0.4")).editSpec().withHostNetwork(true)
                .endSpec().build());
        assertTrue(agents.get("n4").view.policyNames().isEmpty());
        engine.onPodDeleted(pending);
        assertViewsMatchFreshSnapshots();
    }

    @Test
    void namedPortsTravelWithMembers() {
        agent("n1");
        engine.onPolicy(ingressPolicy("ns-a", "p", sel("app=web"), List.of(podPeer(sel("app=web"))),
                List.of(port("TCP", "http", null))));
        var member = agents.get("n1").view.appliedToGroups.get(name("ns-a", sel("app=web"))).get("ns-a/web-1");
        assertEquals("http", member.getNamedPorts(0).getName());
        assertEquals(8080, member.getNamedPorts(0).getPort());
        var svc = agents.get("n1").view.policies.values().iterator().next().getRules(0).getServices(0);
        assertEquals("http", svc.getPortName());
    }

    @Test
    void policyEditsAreModificationsAndInvalidEditsKeepThePreviousVersion() {
        agent("n1");
        NetworkPolicy v1 = ingressPolicy("ns-a", "p", sel("app=web"), List.of(podPeer(sel("app=web"))), List.of());
        engine.onPolicy(v1);
        String uid = v1.getMetadata().getUid();
        NetworkPolicy v2 = new NetworkPolicyBuilder(v1).editMetadata().withGeneration(2L).endMetadata()
                .editSpec().editFirstIngress().withFrom(podPeer(sel("app=client"))).endIngress().endSpec().build();
        engine.onPolicy(v2);
        var p = agents.get("n1").view.policies.get(uid);
        assertEquals(2, p.getSource().getGeneration());
        assertEquals(name("ns-a", sel("app=client")), p.getRules(0).getPeer().getAddressGroups(0));
        assertNull(agents.get("n1").view.addressMembers(name("ns-a", sel("app=web"))), "old address group withdrawn");

        // A metadata-only update (e.g. our status annotation) is ignored.
        int n = agents.get("n1").view.log.size();
        engine.onPolicy(new NetworkPolicyBuilder(v2).editMetadata().addToAnnotations("x", "y").endMetadata().build());
        assertEquals(n, agents.get("n1").view.log.size());

        NetworkPolicy bad = new NetworkPolicyBuilder(v2).editMetadata().withGeneration(3L).endMetadata()
                .editSpec().editFirstIngress().withFrom(ipPeer("10.0.0.0/40")).endIngress().endSpec().build();
        engine.onPolicy(bad);
        assertEquals(1, errors.size());
        assertEquals(3, errors.getFirst().generation());
        assertEquals(2, agents.get("n1").view.policies.get(uid).getSource().getGeneration(), "generation 2 stays");
        var span = engine.policySpans().getFirst();
        assertEquals(2, span.generation());
        assertEquals(3, span.observedGeneration());
        assertNotNull(span.error());
        // Other policies are unaffected.
        engine.onPolicy(denyAll("ns-b", "deny"));
        assertEquals(2, engine.policySpans().size());
        engine.onPolicyDeleted(v2);
        assertTrue(agents.get("n1").view.policyNames().isEmpty());
        assertTrue(agents.get("n1").view.addressGroups.isEmpty());
        assertTrue(agents.get("n1").view.appliedToGroups.isEmpty());
        assertViewsMatchFreshSnapshots();
    }

    @Test
    void aClosedSinkIsDropped() {
        Agent a = agent("n1");
        a.open = false;
        engine.onPolicy(ingressPolicy("ns-a", "p", sel("app=web"), List.of(), List.of()));
        assertEquals(0, engine.subscriptionCount());
    }
}
