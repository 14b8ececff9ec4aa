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
import org.junit.jupiter.api.Test;

import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.LinkedHashSet;
import java.util.List;
import java.util.Map;
import java.util.Random;
import java.util.Set;
import java.util.function.Supplier;

import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertNotNull;
import static org.junit.jupiter.api.Assertions.assertTrue;
import static org.junit.jupiter.api.Assertions.fail;

/**
 * The NetworkPolicy translator on random policies (fixed seeds, printed in every failure so it can be replayed).
 * Built from valid parts only, every policy compiles. Built from a mix of valid and invalid parts (bad operators,
 * CIDRs, excepts, protocols, port numbers and names, policy types, null lists), it compiles or throws an
 * {@link InvalidPolicyException} with a message; no other exception escapes.
 */
class PolicyTranslatorPropertyTest {

    private static final long VALID_SEED = 0x9a11d;
    private static final long ANY_SEED = 0xa11;

    /** Choices per part; {@code valid} restricts every part to values the API server would accept. */
    private record Parts(Random rnd, boolean valid) {

        @SafeVarargs
        private <T> T oneOf(T... choices) {
            return choices[rnd.nextInt(choices.length)];
        }

        private <T> List<T> listOf(int maxSize, Supplier<T> element) {
            List<T> out = new ArrayList<>();
            for (int n = rnd.nextInt(maxSize + 1); n > 0; n--) {
                out.add(element.get());
            }
            return out;
        }

        private int between(int min, int max) {
            return min + rnd.nextInt(max - min + 1);
        }

        String labelValue() {
            return oneOf("a", "b", "web", "x-1");
        }

        LabelSelector selector() {
            if (!valid && rnd.nextBoolean()) {
                return null;
            }
            Map<String, String> labels = new LinkedHashMap<>();
            for (int n = rnd.nextInt(3); n > 0; n--) {
                labels.put(oneOf("app", "tier", "team"), labelValue());
            }
            List<LabelSelectorRequirement> reqs = listOf(2, () -> {
                String k = oneOf("app", "tier");
                String o = valid ? oneOf("In", "NotIn", "Exists", "DoesNotExist")
                        : oneOf("In", "NotIn", "Exists", "DoesNotExist", "Bogus", "", "in");
                List<String> v = listOf(3, this::labelValue);
                boolean setOp = o.equals("In") || o.equals("NotIn");
                List<String> vs = valid ? (setOp ? (v.isEmpty() ? List.of("a") : v) : List.of()) : v;
                return new LabelSelectorRequirement(k, o, vs);
            });
            return new LabelSelector(reqs, labels);
        }

        IPBlock ipBlock() {
            String c = valid ? oneOf("10.0.0.0/8", "192.168.1.0/24", "0.0.0.0/0", "fd00::/64")
                    : oneOf("10.0.0.0/8", "10.0.0.1/8", "300.0.0.0/8", "10.0.0.0/33", "", "fd00::/64", "x", "10.0.0.0");
            List<String> e = listOf(2, () -> valid ? oneOf("10.1.0.0/16", "10.2.3.0/24")
                    : oneOf("10.1.0.0/16", "11.0.0.0/16", "bad", "10.0.0.0/8"));
            // valid: excepts only inside an IPv4 /8 of 10.x
            List<String> ex = valid && !c.equals("10.0.0.0/8") ? List.of() : e;
            return new IPBlock(c, ex);
        }

        NetworkPolicyPeer peer() {
            int kind = rnd.nextInt(valid ? 3 : 6);
            return switch (kind) {
                case 0 -> {
                    LabelSelector s = selector();
                    yield new NetworkPolicyPeer(null, null, s == null ? new LabelSelector() : s);
                }
                case 1 -> {
                    LabelSelector n = selector();
                    yield new NetworkPolicyPeer(null, n == null ? new LabelSelector() : n, selector());
                }
                case 2 -> new NetworkPolicyPeer(ipBlock(), null, null);
                // invalid only: an empty peer, an ipBlock together with a namespace selector
                case 3 -> new NetworkPolicyPeer();
                case 4 -> new NetworkPolicyPeer(ipBlock(), new LabelSelector(), null);
                default -> peer(); // half the invalid-mode peers come from the valid shapes above
            };
        }

        NetworkPolicyPort port() {
            String pr = valid ? oneOf("TCP", "UDP", "SCTP") : oneOf("TCP", "UDP", "SCTP", "ICMP", "tcp", "");
            IntOrString pv = switch (rnd.nextInt(valid ? 2 : 3)) {
                case 0 -> new IntOrString(valid ? between(1, 65535) : between(-5, 70000));
                case 1 -> new IntOrString(valid ? oneOf("http", "serve-80-tcp", "dns")
                        : oneOf("http", "HTTP", "a--b", "-x", "way-too-long-port-name", "", "80x"));
                default -> null;
            };
            int d = valid ? between(0, 100) : between(-100, 70000);
            boolean withEnd = rnd.nextBoolean();
            Integer end = null;
            if (withEnd && pv != null && pv.getIntVal() != null) {
                end = valid ? Math.min(65535, pv.getIntVal() + d) : d;
            }
            return new NetworkPolicyPort(end, pv, pr);
        }

        NetworkPolicy policy() {
            LabelSelector sel = selector();
            Set<String> types = new LinkedHashSet<>();
            for (int n = rnd.nextInt(3); n > 0; n--) {
                types.add(valid ? oneOf("Ingress", "Egress") : oneOf("Ingress", "Egress", "Both", ""));
            }
            List<NetworkPolicyIngressRule> ingress = listOf(3, () -> new NetworkPolicyIngressRule(listOf(3, this::peer), listOf(3, this::port)));
            List<NetworkPolicyEgressRule> egress = listOf(3, () -> {
                List<NetworkPolicyPeer> to = listOf(3, this::peer);
                return new NetworkPolicyEgressRule(listOf(3, this::port), to);
            });
            return new NetworkPolicyBuilder().withNewMetadata().withNamespace("ns")
                    .withName("p").withUid("uid-p").withGeneration(1L).endMetadata()
                    .withNewSpec().withPodSelector(sel == null ? new LabelSelector() : sel).withPolicyTypes(List.copyOf(types))
                    .withIngress(ingress).withEgress(egress).endSpec().build();
        }
    }

    @Test
    void validPoliciesCompile() {
        Random rnd = new Random(VALID_SEED);
        Parts parts = new Parts(rnd, true);
        for (int i = 0; i < 1000; i++) {
            NetworkPolicy np = parts.policy();
            String what = "seed " + VALID_SEED + " try " + i + ": " + np.getSpec();
            try {
                assertNotNull(new PolicyTranslator().compile(np, 1), what);
            } catch (InvalidPolicyException e) {
                fail(what + " rejected: " + e.getMessage());
            }
        }
    }

    @Test
    void anyPolicyCompilesOrIsRejectedWithAMessage() {
        Random rnd = new Random(ANY_SEED);
        Parts invalid = new Parts(rnd, false);
        Parts valid = new Parts(rnd, true);
        int tries = 3000;
        int rejected = 0;
        for (int i = 0; i < tries; i++) {
            NetworkPolicy np = rnd.nextBoolean() ? invalid.policy() : valid.policy();
            String what = "seed " + ANY_SEED + " try " + i + ": " + np.getSpec();
            try {
                new PolicyTranslator().compile(np, 1);
            } catch (InvalidPolicyException e) {
                assertFalse(e.getMessage() == null || e.getMessage().isBlank(), "an invalid policy needs a reason: " + what);
                rejected++;
            } catch (RuntimeException e) {
                throw new AssertionError(what + " threw " + e, e);
            }
        }
        // both sides must be exercised, or the property proves little
        int compiled = tries - rejected;
        assertTrue(rejected > tries / 10 && compiled > tries / 10,
                "seed " + ANY_SEED + ": " + compiled + " compiled, " + rejected + " rejected");
    }
}
