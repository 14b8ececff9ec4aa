package dev.weft.agent.cni;

import com.google.protobuf.ByteString;
import dev.weft.proto.cni.v1.CniRequest;
import dev.weft.proto.cni.v1.ErrorCode;
import dev.weft.proto.cni.v1.GcRequest;
import net.jqwik.api.Arbitraries;
import net.jqwik.api.Arbitrary;
import net.jqwik.api.Combinators;
import net.jqwik.api.ForAll;
import net.jqwik.api.Property;
import net.jqwik.api.Provide;

import java.nio.charset.StandardCharsets;
import java.util.List;
import java.util.Set;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * The agent's CNI request parsing (ADD/CHECK/DEL and GC) on random valid and hostile input: it returns a validated
 * invocation or a {@link CniFailure} with a spec error code and a message, never another exception; what it accepts
 * satisfies the checks the plumbing relies on (names end up in ip/nsenter command lines).
 */
class CniParserPropertyTest {

    private static final Set<ErrorCode> SPEC_CODES = Set.of(ErrorCode.DECODING_FAILURE, ErrorCode.INVALID_NETWORK_CONFIG,
            ErrorCode.INCOMPATIBLE_CNI_VERSION, ErrorCode.INVALID_ENVIRONMENT_VARIABLES);

    @Provide
    Arbitrary<String> configs() {
        Arbitrary<String> version = Arbitraries.of("1.1.0", "1.0.0", "0.4.0", "0.3.1", "2.0.0", "", "1.0");
        Arbitrary<String> type = Arbitraries.of("weft", "bridge", "");
        Arbitrary<String> name = Arbitraries.of("weft", "", "k8s-pod-network");
        Arbitrary<String> valid = Combinators.combine(version, type, name).as((v, t, n) ->
                "{\"cniVersion\":\"" + v + "\",\"name\":\"" + n + "\",\"type\":\"" + t + "\"}");
        Arbitrary<String> tokens = Arbitraries.of("{", "}", "[", "]", ",", ":", "\"cniVersion\"", "\"1.0.0\"", "\"type\"",
                "\"weft\"", "null", "7", "\"", "\\u00", " ").list().ofMaxSize(30).map(l -> String.join("", l));
        return Arbitraries.oneOf(valid, valid, tokens, Arbitraries.strings().ofMaxLength(40));
    }

    @Provide
    Arbitrary<String> names() {
        return Arbitraries.oneOf(Arbitraries.of("eth0", "net1", "ctr-1", "abc.def_g-h", "/var/run/netns/p1", ""),
                Arbitraries.strings().ofMaxLength(20),
                Arbitraries.strings().withChars("abc;=/ $`'\"\n\\-._0").ofMaxLength(24));
    }

    @Provide
    Arbitrary<String> args() {
        Arbitrary<String> kv = Combinators.combine(Arbitraries.of("K8S_POD_NAME", "K8S_POD_NAMESPACE", "K8S_POD_UID",
                "IgnoreUnknown", "", " x "), Arbitraries.of("a", "", "b=c", " ")).as((k, v) -> k + "=" + v);
        Arbitrary<String> structured = kv.list().ofMaxSize(5).map(l -> String.join(";", l));
        return Arbitraries.oneOf(structured, Arbitraries.strings().withChars("ab=; ").ofMaxLength(15));
    }

    @Property(tries = 2000)
    void requestsParseOrFailWithASpecError(@ForAll("configs") String config, @ForAll("names") String containerId,
                                           @ForAll("names") String netns, @ForAll("names") String ifName,
                                           @ForAll("args") String args, @ForAll boolean needsNetns) {
        CniRequest r = CniRequest.newBuilder().setContainerId(containerId).setNetns(netns).setIfname(ifName).setArgs(args)
                .setNetworkConfiguration(ByteString.copyFrom(config, StandardCharsets.UTF_8)).build();
        try {
            CniInvocation inv = CniInvocation.parse(r, needsNetns);
            assertTrue(CniInvocation.SUPPORTED_VERSIONS.contains(inv.cniVersion()));
            assertTrue(inv.ifName().matches("[A-Za-z0-9_.\\-]{1,15}"), inv.ifName());
            assertTrue(inv.containerId().matches("[A-Za-z0-9][A-Za-z0-9_.\\-]*"), inv.containerId());
            assertTrue(inv.netns().isEmpty() ? !needsNetns : inv.netns().startsWith("/") && !inv.netns().contains(" "));
            assertFalse(inv.podNamespace().isEmpty() || inv.podName().isEmpty());
        } catch (CniFailure f) {
            assertTrue(SPEC_CODES.contains(f.code()), f.code() + ": " + f.getMessage());
            assertFalse(f.getMessage().isBlank());
        }
    }

    @Provide
    Arbitrary<String> gcConfigs() {
        Arbitrary<String> entry = Arbitraries.oneOf(
                Combinators.combine(Arbitraries.of("ctr-1", "ctr-2", ""), Arbitraries.of("eth0", "")).as((c, i) ->
                        "{\"containerID\":\"" + c + "\",\"ifname\":\"" + i + "\"}"),
                Arbitraries.of("{}", "null", "7", "\"x\"", "[]", "{\"containerID\":5,\"ifname\":\"eth0\"}"));
        Arbitrary<String> list = entry.list().ofMaxSize(6).map(l -> "[" + String.join(",", l) + "]");
        Arbitrary<String> field = Arbitraries.oneOf(list, Arbitraries.of("null", "{}", "\"all\""));
        Arbitrary<String> wellFormed = Combinators.combine(Arbitraries.of("1.1.0", "1.0.0", "3.0"), field,
                Arbitraries.of(true, false)).as((v, f, present) -> "{\"cniVersion\":\"" + v + "\",\"name\":\"weft\",\"type\":\"weft\""
                + (present ? ",\"cni.dev/valid-attachments\":" + f : "") + "}");
        return Arbitraries.oneOf(wellFormed, wellFormed, configs());
    }

    @Property(tries = 2000)
    void gcRequestsParseWholeOrFailWithASpecError(@ForAll("gcConfigs") String config) {
        GcRequest r = GcRequest.newBuilder().setNetworkConfiguration(ByteString.copyFrom(config, StandardCharsets.UTF_8)).build();
        try {
            GcInvocation gc = GcInvocation.parse(r);
            // accepted: every entry named a container and an interface
            assertTrue(gc.valid().stream().allMatch(a -> !a.containerId().isEmpty() && !a.ifName().isEmpty()));
            assertTrue(config.contains(GcInvocation.VALID_ATTACHMENTS));
        } catch (CniFailure f) {
            assertTrue(SPEC_CODES.contains(f.code()), f.code() + ": " + f.getMessage());
            assertFalse(f.getMessage().isBlank());
        }
    }

    @Property(tries = 1000)
    void wellFormedArgsRoundTrip(@ForAll("argPairs") List<String[]> pairs) throws Exception {
        String text = String.join(";", pairs.stream().map(p -> p[0] + "=" + p[1]).toList());
        java.util.Map<String, String> expected = new java.util.LinkedHashMap<>();
        pairs.forEach(p -> expected.put(p[0], p[1])); // a repeated key: the last one wins
        assertEquals(expected, CniInvocation.parseArgs(text), text);
    }

    @Provide
    Arbitrary<List<String[]>> argPairs() {
        Arbitrary<String> key = Arbitraries.strings().withCharRange('A', 'Z').withChars('_').ofMinLength(1).ofMaxLength(12);
        Arbitrary<String> value = Arbitraries.strings().alpha().numeric().withChars('-', '.', '/').ofMaxLength(20);
        return Combinators.combine(key, value).as((k, v) -> new String[]{k, v}).list().ofMaxSize(6);
    }
}
