package dev.weft.policy.core;

import io.fabric8.kubernetes.api.model.IntOrString;
import io.fabric8.kubernetes.api.model.LabelSelector;
import io.fabric8.kubernetes.api.model.LabelSelectorRequirement;
import io.fabric8.kubernetes.api.model.networking.v1.IPBlock;
import io.fabric8.kubernetes.api.model.networking.v1.NetworkPolicy;
import io.fabric8.kubernetes.api.model.networking.v1.NetworkPolicyBuilder;
import io.fabric8.kubernetes.api.model.networking.v1.NetworkPolicyEgressRule;
import io.fabric8.kubernetes.api.model.networking.v1.NetworkPolicyIngressRule;
import io.fabric8.kubernetes.api.model.networking.v1.NetworkPolicyPeer;
import io.fabric8.kubernetes.api.model.networking.v1.NetworkPolicyPort;
import net.jqwik.api.Arbitraries;
import net.jqwik.api.Arbitrary;
import net.jqwik.api.Combinators;
import net.jqwik.api.ForAll;
import net.jqwik.api.Property;
import net.jqwik.api.Provide;
import net.jqwik.api.statistics.Statistics;

import java.util.List;
import java.util.Map;

import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertNotNull;

/**
 * The NetworkPolicy translator on random policies. Built from valid parts only, every policy compiles. Built from a
 * mix of valid and invalid parts (bad operators, CIDRs, excepts, protocols, port numbers and names, policy types, null
 * lists), it compiles or throws an {@link InvalidPolicyException} with a message; no other exception escapes.
 */
class PolicyTranslatorPropertyTest {

    /** Choices per part; {@code valid} restricts every part to values the API server would accept. */
    private record Parts(boolean valid) {
        Arbitrary<String> labelValue() {
            return Arbitraries.of("a", "b", "web", "x-1");
        }

        Arbitrary<LabelSelector> selector() {
            Arbitrary<Map<String, String>> labels = Arbitraries.maps(Arbitraries.of("app", "tier", "team"), labelValue()).ofMaxSize(2);
            Arbitrary<String> op = valid ? Arbitraries.of("In", "NotIn", "Exists", "DoesNotExist")
                    : Arbitraries.of("In", "NotIn", "Exists", "DoesNotExist", "Bogus", "", "in");
            Arbitrary<List<String>> values = labelValue().list().ofMaxSize(3);
            Arbitrary<LabelSelectorRequirement> req = Combinators.combine(Arbitraries.of("app", "tier"), op, values)
                    .as((k, o, v) -> {
                        boolean setOp = o.equals("In") || o.equals("NotIn");
                        List<String> vs = valid ? (setOp ? (v.isEmpty() ? List.of("a") : v) : List.of()) : v;
                        return new LabelSelectorRequirement(k, o, vs);
                    });
            Arbitrary<LabelSelector> sel = Combinators.combine(labels, req.list().ofMaxSize(2))
                    .as((l, r) -> new LabelSelector(r, l));
            return valid ? sel : Arbitraries.oneOf(sel, Arbitraries.just(null));
        }

        Arbitrary<IPBlock> ipBlock() {
            Arbitrary<String> cidr = valid ? Arbitraries.of("10.0.0.0/8", "192.168.1.0/24", "0.0.0.0/0", "fd00::/64")
                    : Arbitraries.of("10.0.0.0/8", "10.0.0.1/8", "300.0.0.0/8", "10.0.0.0/33", "", "fd00::/64", "x", "10.0.0.0");
            Arbitrary<List<String>> except = (valid ? Arbitraries.of("10.1.0.0/16", "10.2.3.0/24")
                    : Arbitraries.of("10.1.0.0/16", "11.0.0.0/16", "bad", "10.0.0.0/8")).list().ofMaxSize(2);
            return Combinators.combine(cidr, except).as((c, e) -> {
                // valid: excepts only inside an IPv4 /8 of 10.x
                List<String> ex = valid && !c.equals("10.0.0.0/8") ? List.of() : e;
                return new IPBlock(c, ex);
            });
        }

        Arbitrary<NetworkPolicyPeer> peer() {
            Arbitrary<NetworkPolicyPeer> pods = selector().map(s -> new NetworkPolicyPeer(ipBlockNone(), null, s == null ? new LabelSelector() : s));
            Arbitrary<NetworkPolicyPeer> nsPods = Combinators.combine(selector(), selector())
                    .as((n, p) -> new NetworkPolicyPeer(ipBlockNone(), n == null ? new LabelSelector() : n, p));
            Arbitrary<NetworkPolicyPeer> block = ipBlock().map(b -> new NetworkPolicyPeer(b, null, null));
            Arbitrary<NetworkPolicyPeer> peer = Arbitraries.oneOf(pods, nsPods, block);
            return valid ? peer : Arbitraries.oneOf(peer, Arbitraries.just(new NetworkPolicyPeer()),
                    ipBlock().map(b -> new NetworkPolicyPeer(b, new LabelSelector(), null)));
        }

        private static IPBlock ipBlockNone() {
            return null;
        }

        Arbitrary<NetworkPolicyPort> port() {
            Arbitrary<String> protocol = valid ? Arbitraries.of("TCP", "UDP", "SCTP") : Arbitraries.of("TCP", "UDP", "SCTP", "ICMP", "tcp", "");
            Arbitrary<IntOrString> number = (valid ? Arbitraries.integers().between(1, 65535) : Arbitraries.integers().between(-5, 70000))
                    .map(IntOrString::new);
            Arbitrary<IntOrString> name = (valid ? Arbitraries.of("http", "serve-80-tcp", "dns")
                    : Arbitraries.of("http", "HTTP", "a--b", "-x", "way-too-long-port-name", "", "80x")).map(IntOrString::new);
            Arbitrary<IntOrString> portValue = valid ? Arbitraries.oneOf(number, name)
                    : Arbitraries.oneOf(number, name, Arbitraries.just(null));
            Arbitrary<Integer> endPortDelta = valid ? Arbitraries.integers().between(0, 100) : Arbitraries.integers().between(-100, 70000);
            return Combinators.combine(protocol, portValue, endPortDelta, Arbitraries.of(true, false)).as((pr, pv, d, withEnd) -> {
                Integer end = null;
                if (withEnd && pv != null && pv.getIntVal() != null) {
                    end = valid ? Math.min(65535, pv.getIntVal() + d) : d;
                }
                return new NetworkPolicyPort(end, pv, pr);
            });
        }

        Arbitrary<NetworkPolicy> policy() {
            Arbitrary<List<String>> types = (valid ? Arbitraries.of("Ingress", "Egress") : Arbitraries.of("Ingress", "Egress", "Both", ""))
                    .list().uniqueElements().ofMaxSize(2);
            Arbitrary<NetworkPolicyIngressRule> in = Combinators.combine(peer().list().ofMaxSize(3), port().list().ofMaxSize(3))
                    .as((f, p) -> new NetworkPolicyIngressRule(f, p));
            Arbitrary<NetworkPolicyEgressRule> out = Combinators.combine(peer().list().ofMaxSize(3), port().list().ofMaxSize(3))
                    .as((p, t) -> new NetworkPolicyEgressRule(t, p));
            return Combinators.combine(selector(), types, in.list().ofMaxSize(3), out.list().ofMaxSize(3))
                    .as((sel, ty, ingress, egress) -> new NetworkPolicyBuilder().withNewMetadata().withNamespace("ns")
                            .withName("p").withUid("uid-p").withGeneration(1L).endMetadata()
                            .withNewSpec().withPodSelector(sel == null ? new LabelSelector() : sel).withPolicyTypes(ty)
                            .withIngress(ingress).withEgress(egress).endSpec().build());
        }
    }

    @Provide
    Arbitrary<NetworkPolicy> validPolicies() {
        return new Parts(true).policy();
    }

    @Provide
    Arbitrary<NetworkPolicy> anyPolicies() {
        return Arbitraries.oneOf(new Parts(false).policy(), new Parts(true).policy());
    }

    @Property(tries = 1000)
    void validPoliciesCompile(@ForAll("validPolicies") NetworkPolicy np) {
        assertNotNull(new PolicyTranslator().compile(np, 1));
    }

    @Property(tries = 3000)
    void anyPolicyCompilesOrIsRejectedWithAMessage(@ForAll("anyPolicies") NetworkPolicy np) {
        String outcome = "compiled";
        try {
            new PolicyTranslator().compile(np, 1);
        } catch (InvalidPolicyException e) {
            assertFalse(e.getMessage() == null || e.getMessage().isBlank(), "an invalid policy needs a reason");
            outcome = "rejected";
        }
        Statistics.collect(outcome);
        // both sides must be exercised, or the property proves little
        Statistics.coverage(c -> {
            c.check("rejected").percentage(p -> p > 10);
            c.check("compiled").percentage(p -> p > 10);
        });
    }
}
