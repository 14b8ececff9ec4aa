package dev.weft.policy.core;

import dev.weft.policy.core.CompiledPolicy.Direction;
import dev.weft.policy.core.CompiledPolicy.Port;
import dev.weft.policy.core.CompiledPolicy.Protocol;
import io.fabric8.kubernetes.api.model.LabelSelector;
import io.fabric8.kubernetes.api.model.networking.v1.NetworkPolicy;
import io.fabric8.kubernetes.api.model.networking.v1.NetworkPolicyBuilder;
import org.junit.jupiter.api.Test;

import java.util.List;
import java.util.Map;

import static dev.weft.policy.K8s.*;
import static org.junit.jupiter.api.Assertions.*;

/** The Kubernetes NetworkPolicy semantics table, one case per line of it. */
class PolicyTranslatorTest {

    private final PolicyTranslator t = new PolicyTranslator();

    private CompiledPolicy compile(NetworkPolicy np) {
        return t.compile(np, 1);
    }

    private String invalid(NetworkPolicy np) {
        return assertThrows(InvalidPolicyException.class, () -> compile(np)).getMessage();
    }

    @Test
    void defaultDenyAllIsolatesIngressOnlyAndSelectsEveryPodOfTheNamespace() {
        CompiledPolicy c = compile(denyAll("ns1", "deny"));
        assertTrue(c.ingressIsolated());
        assertFalse(c.egressIsolated());
        assertTrue(c.rules().isEmpty());
        assertEquals(GroupKey.inNamespace("ns1", Selector.ALL), c.appliedTo());
    }

    @Test
    void policyTypesDefaultToEgressWhenEgressRulesExist() {
        NetworkPolicy np = new NetworkPolicyBuilder(denyAll("ns1", "p")).editSpec()
                .addNewEgress().withTo(ipPeer("10.0.0.0/8")).endEgress().endSpec().build();
        CompiledPolicy c = compile(np);
        assertTrue(c.ingressIsolated());
        assertTrue(c.egressIsolated());
        assertEquals(Direction.OUT, c.rules().getFirst().direction());
    }

    @Test
    void explicitPolicyTypesWinAndRulesOfOtherDirectionsAreIgnored() {
        NetworkPolicy np = new NetworkPolicyBuilder(ingressPolicy("ns1", "p", sel("app=a"), List.of(), List.of()))
                .editSpec().withPolicyTypes("Egress").endSpec().build();
        CompiledPolicy c = compile(np);
        assertFalse(c.ingressIsolated());
        assertTrue(c.egressIsolated(), "Egress listed without rules: deny all egress");
        assertTrue(c.rules().isEmpty(), "ingress rules are ignored when Ingress is not a policy type");

        NetworkPolicy both = new NetworkPolicyBuilder(denyAll("ns1", "p")).editSpec()
                .withPolicyTypes("Ingress", "Egress").endSpec().build();
        assertTrue(compile(both).egressIsolated());
        assertTrue(invalid(new NetworkPolicyBuilder(denyAll("ns1", "p")).editSpec().withPolicyTypes("Sideways")
                .endSpec().build()).contains("policyType"));
    }

    @Test
    void missingOrEmptyFromMeansEveryPeerAndMissingPortsMeansEveryPort() {
        CompiledPolicy c = compile(ingressPolicy("ns1", "p", sel("app=a"), List.of(), List.of()));
        CompiledPolicy.Rule r = c.rules().getFirst();
        assertTrue(r.anyPeer());
        assertTrue(r.peerGroups().isEmpty());
        assertTrue(r.ports().isEmpty());
    }

    @Test
    void peersPodSelectorNamespaceSelectorAndBoth() {
        CompiledPolicy c = compile(ingressPolicy("ns1", "p", sel("app=a"), List.of(
                podPeer(sel("role=client")),
                nsPeer(sel("team=x"), null),
                nsPeer(sel("team=y"), sel("role=db")),
                podPeer(new LabelSelector())), List.of()));
        List<GroupKey> g = c.rules().getFirst().peerGroups();
        assertEquals(GroupKey.inNamespace("ns1", norm("role=client")), g.get(0));
        assertEquals(GroupKey.acrossNamespaces(norm("team=x"), Selector.ALL), g.get(1));
        assertEquals(GroupKey.acrossNamespaces(norm("team=y"), norm("role=db")), g.get(2));
        assertEquals(GroupKey.inNamespace("ns1", Selector.ALL), g.get(3), "empty podSelector: all pods of the policy's namespace");
        assertFalse(c.rules().getFirst().anyPeer());
        // An empty namespaceSelector selects every namespace.
        CompiledPolicy all = compile(ingressPolicy("ns1", "p", sel(""), List.of(nsPeer(new LabelSelector(), null)), List.of()));
        assertEquals(GroupKey.acrossNamespaces(Selector.ALL, Selector.ALL), all.rules().getFirst().peerGroups().getFirst());
    }

    private static Selector norm(String labels) {
        return Selector.of(dev.weft.policy.K8s.sel(labels));
    }

    @Test
    void matchLabelsAndEquivalentInExpressionNormaliseToOneSharedKey() {
        CompiledPolicy a = compile(ingressPolicy("ns1", "a", sel("app=web"), List.of(podPeer(sel("app=web"))), List.of()));
        CompiledPolicy b = compile(ingressPolicy("ns1", "b", expr("app", "In", "web"), List.of(podPeer(expr("app", "In", "web"))), List.of()));
        assertEquals(a.appliedTo(), b.appliedTo());
        assertSame(a.appliedTo().podSelector(), b.appliedTo().podSelector(), "interned: one selector instance for all policies");
        assertEquals(a.appliedTo().hashName(), b.appliedTo().hashName());
        assertEquals(Selector.of(expr("k", "In", "b", "a", "b")), Selector.of(expr("k", "In", "a", "b")));
    }

    @Test
    void selectorOperators() {
        Map<String, String> web = Map.of("app", "web", "tier", "front");
        Map<String, String> none = Map.of();
        assertTrue(Selector.of(expr("app", "In", "web", "db")).matches(web));
        assertFalse(Selector.of(expr("app", "In", "db")).matches(web));
        assertFalse(Selector.of(expr("app", "In", "db")).matches(none));
        assertTrue(Selector.of(expr("app", "NotIn", "db")).matches(web));
        assertTrue(Selector.of(expr("app", "NotIn", "db")).matches(none), "NotIn matches pods without the key");
        assertFalse(Selector.of(expr("app", "NotIn", "web")).matches(web));
        assertTrue(Selector.of(expr("tier", "Exists")).matches(web));
        assertFalse(Selector.of(expr("tier", "Exists")).matches(none));
        assertTrue(Selector.of(expr("tier", "DoesNotExist")).matches(none));
        assertFalse(Selector.of(expr("tier", "DoesNotExist")).matches(web));
        assertTrue(Selector.of(new LabelSelector()).matches(none), "empty selector selects everything");
        assertTrue(Selector.of(dev.weft.policy.K8s.sel("app=web,tier=front")).matches(web));
        assertFalse(Selector.of(dev.weft.policy.K8s.sel("app=web,tier=back")).matches(web), "requirements are ANDed");
    }

    @Test
    void invalidSelectorsAreRejected() {
        assertTrue(invalid(ingressPolicy("ns1", "p", expr("app", "Near", "x"), List.of(), List.of())).contains("operator"));
        assertTrue(invalid(ingressPolicy("ns1", "p", expr("app", "In"), List.of(), List.of())).contains("needs values"));
        assertTrue(invalid(ingressPolicy("ns1", "p", expr("app", "Exists", "x"), List.of(), List.of())).contains("no values"));
    }

    @Test
    void ipBlocksAreNormalisedAndExceptMustBeStrictlyInside() {
        CompiledPolicy c = compile(ingressPolicy("ns1", "p", sel("app=a"),
                List.of(ipPeer("10.1.2.3/16", "10.1.5.0/24"), ipPeer("fd00::1/64", "fd00::/96")), List.of()));
        var blocks = c.rules().getFirst().ipBlocks();
        assertEquals("10.1.0.0/16", blocks.get(0).cidr());
        assertEquals(List.of("10.1.5.0/24"), blocks.get(0).except());
        assertEquals("fd00::/64", blocks.get(1).cidr(), "canonical IPv6 text (RFC 5952)");
        assertTrue(invalid(ingressPolicy("ns1", "p", sel(""), List.of(ipPeer("10.0.0.0/33")), List.of())).contains("prefix"));
        assertTrue(invalid(ingressPolicy("ns1", "p", sel(""), List.of(ipPeer("10.0.0/8")), List.of())).contains("bad address"));
        assertTrue(invalid(ingressPolicy("ns1", "p", sel(""), List.of(ipPeer("example.com/8")), List.of())).contains("bad address"));
        assertTrue(invalid(ingressPolicy("ns1", "p", sel(""), List.of(ipPeer("10.0.0.0")), List.of())).contains("/prefix"));
        assertTrue(invalid(ingressPolicy("ns1", "p", sel(""), List.of(ipPeer("10.0.0.0/8", "11.0.0.0/16")), List.of()))
                .contains("not inside"));
        assertTrue(invalid(ingressPolicy("ns1", "p", sel(""), List.of(ipPeer("10.0.0.0/8", "10.0.0.0/8")), List.of()))
                .contains("not inside"), "except equal to cidr is not a strict subset");
        assertTrue(invalid(ingressPolicy("ns1", "p", sel(""), List.of(ipPeer("10.0.0.0/8", "fd00::/96")), List.of()))
                .contains("not inside"));
    }

    @Test
    void ipBlockTextIsReadAsTheAgentAndIpamReadIt() {
        String m = invalid(ingressPolicy("ns1", "p", sel(""), List.of(ipPeer("010.1.1.1/32")), List.of()));
        assertTrue(m.contains(".ipBlock: '010.1.1.1/32' is not a CIDR: bad address '010.1.1.1': octet '010' has a leading zero"), m);
        m = invalid(ingressPolicy("ns1", "p", sel(""), List.of(ipPeer("10.0.0.0/8", "10.1.0.0/016")), List.of()));
        assertTrue(m.contains(".ipBlock.except: '10.1.0.0/016' is not a CIDR: prefix length '016' has a leading zero"), m);
        CompiledPolicy c = compile(ingressPolicy("ns1", "p", sel("app=a"), List.of(ipPeer("::ffff:10.0.0.0/104")), List.of()));
        assertEquals("::ffff:a00:0/104", c.rules().getFirst().ipBlocks().getFirst().cidr(), "an IPv4-mapped block stays IPv6");
    }

    @Test
    void peerNeedsExactlyOneKindOfSelection() {
        var both = new io.fabric8.kubernetes.api.model.networking.v1.NetworkPolicyPeerBuilder(ipPeer("10.0.0.0/8"))
                .withPodSelector(sel("a=b")).build();
        assertTrue(invalid(ingressPolicy("ns1", "p", sel(""), List.of(both), List.of())).contains("cannot be combined"));
        var empty = new io.fabric8.kubernetes.api.model.networking.v1.NetworkPolicyPeer();
        assertTrue(invalid(ingressPolicy("ns1", "p", sel(""), List.of(empty), List.of())).contains("needs"));
    }

    @Test
    void portsByNumberNameRangeAndProtocol() {
        CompiledPolicy c = compile(ingressPolicy("ns1", "p", sel("app=a"), List.of(), List.of(
                port(null, 80, null),
                port("UDP", 53, null),
                port("SCTP", "http", null),
                port("TCP", 8000, 8080),
                port("TCP", 9000, 9000),
                port("UDP", null, null))));
        List<Port> ports = c.rules().getFirst().ports();
        assertEquals(new Port(Protocol.TCP, 80, null, 0), ports.get(0), "protocol defaults to TCP");
        assertEquals(new Port(Protocol.UDP, 53, null, 0), ports.get(1));
        assertEquals(new Port(Protocol.SCTP, 0, "http", 0), ports.get(2));
        assertEquals(new Port(Protocol.TCP, 8000, null, 8080), ports.get(3));
        assertEquals(new Port(Protocol.TCP, 9000, null, 0), ports.get(4), "endPort == port is a single port");
        assertEquals(Port.all(Protocol.UDP), ports.get(5), "protocol without port: every port of that protocol");
    }

    @Test
    void invalidPortsAreRejected() {
        assertTrue(invalid(ingressPolicy("ns1", "p", sel(""), List.of(), List.of(port("ICMP", 1, null)))).contains("protocol"));
        assertTrue(invalid(ingressPolicy("ns1", "p", sel(""), List.of(), List.of(port("TCP", 0, null)))).contains("port number"));
        assertTrue(invalid(ingressPolicy("ns1", "p", sel(""), List.of(), List.of(port("TCP", 70000, null)))).contains("port number"));
        assertTrue(invalid(ingressPolicy("ns1", "p", sel(""), List.of(), List.of(port("TCP", 80, 79)))).contains("below"));
        assertTrue(invalid(ingressPolicy("ns1", "p", sel(""), List.of(), List.of(port("TCP", 80, 70000)))).contains("endPort"));
        assertTrue(invalid(ingressPolicy("ns1", "p", sel(""), List.of(), List.of(port("TCP", "http", 90))))
                .contains("named port"), "endPort cannot extend a named port");
        assertTrue(invalid(ingressPolicy("ns1", "p", sel(""), List.of(), List.of(port("TCP", null, 90)))).contains("requires port"));
        assertTrue(invalid(ingressPolicy("ns1", "p", sel(""), List.of(), List.of(port("TCP", "Http", null)))).contains("port name"));
        assertTrue(invalid(ingressPolicy("ns1", "p", sel(""), List.of(), List.of(port("TCP", "123", null)))).contains("port name"));
        assertTrue(invalid(ingressPolicy("ns1", "p", sel(""), List.of(), List.of(port("TCP", "a--b", null)))).contains("port name"));
        assertTrue(invalid(ingressPolicy("ns1", "p", sel(""), List.of(), List.of(port("TCP", "a-very-long-port-name", null))))
                .contains("port name"));
    }

    private static NetworkPolicy egressPolicy(List<io.fabric8.kubernetes.api.model.networking.v1.NetworkPolicyPeer> to,
                                              List<io.fabric8.kubernetes.api.model.networking.v1.NetworkPolicyPort> ports) {
        return new NetworkPolicyBuilder(denyAll("ns1", "p")).editSpec().withPolicyTypes("Egress")
                .addNewEgress().withTo(to).withPorts(ports).endEgress().endSpec().build();
    }

    @Test
    void namedPortEgressWithoutPeersGoesToEveryPodOfTheCluster() {
        CompiledPolicy c = compile(egressPolicy(List.of(), List.of(port("TCP", "serve-80-tcp", null))));
        assertEquals(1, c.rules().size());
        CompiledPolicy.Rule r = c.rules().getFirst();
        assertFalse(r.anyPeer(), "a named port lives on pods: the destinations are pods, where it is resolved");
        assertEquals(List.of(GroupKey.acrossNamespaces(Selector.ALL, Selector.ALL)), r.peerGroups());
        assertEquals(List.of(new Port(Protocol.TCP, 0, "serve-80-tcp", 0)), r.ports());
    }

    @Test
    void mixedPortsWithoutPeersSplitIntoNumberedToAnyAddressAndNamedToEveryPod() {
        CompiledPolicy c = compile(egressPolicy(List.of(), List.of(port("UDP", 53, null), port("TCP", "http", null))));
        assertEquals(2, c.rules().size());
        CompiledPolicy.Rule numbered = c.rules().get(0);
        CompiledPolicy.Rule named = c.rules().get(1);
        assertEquals(0, numbered.index());
        assertEquals(0, named.index());
        assertTrue(numbered.anyPeer());
        assertEquals(List.of(new Port(Protocol.UDP, 53, null, 0)), numbered.ports());
        assertFalse(named.anyPeer());
        assertEquals(List.of(GroupKey.acrossNamespaces(Selector.ALL, Selector.ALL)), named.peerGroups());
        assertEquals(List.of(new Port(Protocol.TCP, 0, "http", 0)), named.ports());
    }

    @Test
    void namedPortEgressWithPeersKeepsThePeersAndIngressWithoutPeersStaysAny() {
        CompiledPolicy toPods = compile(egressPolicy(List.of(podPeer(sel("app=web"))), List.of(port("TCP", "http", null))));
        assertEquals(List.of(GroupKey.inNamespace("ns1", Selector.of(sel("app=web")))), toPods.rules().getFirst().peerGroups());
        // ipBlock peers keep their blocks: a named port cannot resolve on an address, the agent matches nothing there
        CompiledPolicy toBlock = compile(egressPolicy(List.of(ipPeer("10.0.0.0/8")), List.of(port("TCP", "http", null))));
        assertTrue(toBlock.rules().getFirst().peerGroups().isEmpty());
        assertEquals(1, toBlock.rules().getFirst().ipBlocks().size());
        // ingress: the named port is resolved on the policy's own pods, the sources stay "every address"
        CompiledPolicy in = compile(ingressPolicy("ns1", "p", sel(""), List.of(), List.of(port("TCP", "http", null))));
        assertTrue(in.rules().getFirst().anyPeer());
    }
}
