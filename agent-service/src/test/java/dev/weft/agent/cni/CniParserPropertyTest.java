package dev.weft.agent.cni;

import com.google.protobuf.ByteString;
import dev.weft.proto.cni.v1.CniRequest;
import dev.weft.proto.cni.v1.ErrorCode;
import dev.weft.proto.cni.v1.GcRequest;
import org.junit.jupiter.api.Test;

import java.nio.charset.StandardCharsets;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Random;
import java.util.Set;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * The agent's CNI request parsing (ADD/CHECK/DEL and GC) on random valid and hostile input (fixed seeds, printed in
 * every failure so it replays): it returns a validated invocation or a {@link CniFailure} with a spec error code and a
 * message, never another exception; what it accepts satisfies the checks the plumbing relies on (names end up in
 * ip/nsenter command lines).
 */
class CniParserPropertyTest {

    private static final Set<ErrorCode> SPEC_CODES = Set.of(ErrorCode.DECODING_FAILURE, ErrorCode.INVALID_NETWORK_CONFIG,
            ErrorCode.INCOMPATIBLE_CNI_VERSION, ErrorCode.INVALID_ENVIRONMENT_VARIABLES);

    private static String oneOf(Random rnd, String... choices) {
        return choices[rnd.nextInt(choices.length)];
    }

    /** Any string: printable ASCII, control characters, and any UTF-16 unit (lone surrogates included). */
    private static String anyString(Random rnd, int maxLength) {
        StringBuilder sb = new StringBuilder();
        for (int n = rnd.nextInt(maxLength + 1); n > 0; n--) {
            int kind = rnd.nextInt(10);
            sb.append((char) (kind < 5 ? 0x20 + rnd.nextInt(0x5f) : kind < 7 ? rnd.nextInt(0x20) : rnd.nextInt(0x10000)));
        }
        return sb.toString();
    }

    /** A string of up to {@code maxLength} chars, each taken from {@code chars}. */
    private static String stringOf(Random rnd, String chars, int minLength, int maxLength) {
        StringBuilder sb = new StringBuilder();
        for (int n = minLength + rnd.nextInt(maxLength - minLength + 1); n > 0; n--) {
            sb.append(chars.charAt(rnd.nextInt(chars.length())));
        }
        return sb.toString();
    }

    private static String joined(Random rnd, int maxSize, String separator, java.util.function.Supplier<String> element) {
        List<String> parts = new ArrayList<>();
        for (int n = rnd.nextInt(maxSize + 1); n > 0; n--) {
            parts.add(element.get());
        }
        return String.join(separator, parts);
    }

    private static String config(Random rnd) {
        return switch (rnd.nextInt(4)) {
            case 0, 1 -> "{\"cniVersion\":\"" + oneOf(rnd, "1.1.0", "1.0.0", "0.4.0", "0.3.1", "2.0.0", "", "1.0")
                    + "\",\"name\":\"" + oneOf(rnd, "weft", "", "k8s-pod-network")
                    + "\",\"type\":\"" + oneOf(rnd, "weft", "bridge", "") + "\"}";
            case 2 -> joined(rnd, 30, "", () -> oneOf(rnd, "{", "}", "[", "]", ",", ":", "\"cniVersion\"", "\"1.0.0\"",
                    "\"type\"", "\"weft\"", "null", "7", "\"", "\\u00", " "));
            default -> anyString(rnd, 40);
        };
    }

    private static String name(Random rnd) {
        return switch (rnd.nextInt(3)) {
            case 0 -> oneOf(rnd, "eth0", "net1", "ctr-1", "abc.def_g-h", "/var/run/netns/p1", "");
            case 1 -> anyString(rnd, 20);
            default -> stringOf(rnd, "abc;=/ $`'\"\n\\-._0", 0, 24);
        };
    }

    private static String args(Random rnd) {
        if (rnd.nextBoolean()) {
            return stringOf(rnd, "ab=; ", 0, 15);
        }
        return joined(rnd, 5, ";", () -> oneOf(rnd, "K8S_POD_NAME", "K8S_POD_NAMESPACE", "K8S_POD_UID", "IgnoreUnknown", "", " x ")
                + "=" + oneOf(rnd, "a", "", "b=c", " "));
    }

    @Test
    void requestsParseOrFailWithASpecError() {
        long seed = 21;
        Random rnd = new Random(seed);
        for (int i = 0; i < 2000; i++) {
            String config = config(rnd);
            String containerId = name(rnd);
            String netns = name(rnd);
            String ifName = name(rnd);
            String args = args(rnd);
            boolean needsNetns = rnd.nextBoolean();
            CniRequest r = CniRequest.newBuilder().setContainerId(containerId).setNetns(netns).setIfname(ifName).setArgs(args)
                    .setNetworkConfiguration(ByteString.copyFrom(config, StandardCharsets.UTF_8)).build();
            String what = "seed " + seed + " try " + i + " (needsNetns " + needsNetns + "): " + r;
            try {
                CniInvocation inv = CniInvocation.parse(r, needsNetns);
                assertTrue(CniInvocation.SUPPORTED_VERSIONS.contains(inv.cniVersion()), what);
                assertTrue(inv.ifName().matches("[A-Za-z0-9_.\\-]{1,15}"), inv.ifName() + ", " + what);
                assertTrue(inv.containerId().matches("[A-Za-z0-9][A-Za-z0-9_.\\-]*"), inv.containerId() + ", " + what);
                assertTrue(inv.netns().isEmpty() ? !needsNetns : inv.netns().startsWith("/") && !inv.netns().contains(" "), what);
                assertFalse(inv.podNamespace().isEmpty() || inv.podName().isEmpty(), what);
            } catch (CniFailure f) {
                assertTrue(SPEC_CODES.contains(f.code()), f.code() + ": " + f.getMessage() + ", " + what);
                assertFalse(f.getMessage().isBlank(), what);
            } catch (RuntimeException e) {
                throw new AssertionError(what + " threw " + e, e);
            }
        }
    }

    private static String gcConfig(Random rnd) {
        if (rnd.nextInt(3) == 2) {
            return config(rnd);
        }
        String field = rnd.nextBoolean() ? oneOf(rnd, "null", "{}", "\"all\"")
                : "[" + joined(rnd, 6, ",", () -> rnd.nextBoolean()
                ? "{\"containerID\":\"" + oneOf(rnd, "ctr-1", "ctr-2", "") + "\",\"ifname\":\"" + oneOf(rnd, "eth0", "") + "\"}"
                : oneOf(rnd, "{}", "null", "7", "\"x\"", "[]", "{\"containerID\":5,\"ifname\":\"eth0\"}")) + "]";
        return "{\"cniVersion\":\"" + oneOf(rnd, "1.1.0", "1.0.0", "3.0") + "\",\"name\":\"weft\",\"type\":\"weft\""
                + (rnd.nextBoolean() ? ",\"cni.dev/valid-attachments\":" + field : "") + "}";
    }

    @Test
    void gcRequestsParseWholeOrFailWithASpecError() {
        long seed = 22;
        Random rnd = new Random(seed);
        for (int i = 0; i < 2000; i++) {
            String config = gcConfig(rnd);
            String what = "seed " + seed + " try " + i + ": " + config;
            GcRequest r = GcRequest.newBuilder().setNetworkConfiguration(ByteString.copyFrom(config, StandardCharsets.UTF_8)).build();
            try {
                GcInvocation gc = GcInvocation.parse(r);
                // accepted: every entry named a container and an interface
                assertTrue(gc.valid().stream().allMatch(a -> !a.containerId().isEmpty() && !a.ifName().isEmpty()), what);
                assertTrue(config.contains(GcInvocation.VALID_ATTACHMENTS), what);
            } catch (CniFailure f) {
                assertTrue(SPEC_CODES.contains(f.code()), f.code() + ": " + f.getMessage() + ", " + what);
                assertFalse(f.getMessage().isBlank(), what);
            } catch (RuntimeException e) {
                throw new AssertionError(what + " threw " + e, e);
            }
        }
    }

    @Test
    void wellFormedArgsRoundTrip() throws Exception {
        long seed = 23;
        Random rnd = new Random(seed);
        String keyChars = "ABCDEFGHIJKLMNOPQRSTUVWXYZ_";
        String valueChars = "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789-./";
        for (int i = 0; i < 1000; i++) {
            List<String[]> pairs = new ArrayList<>();
            for (int n = rnd.nextInt(7); n > 0; n--) {
                // few key characters now and then, so repeated keys occur
                pairs.add(new String[]{stringOf(rnd, rnd.nextInt(4) == 0 ? "AB" : keyChars, 1, 12), stringOf(rnd, valueChars, 0, 20)});
            }
            String text = String.join(";", pairs.stream().map(p -> p[0] + "=" + p[1]).toList());
            Map<String, String> expected = new LinkedHashMap<>();
            pairs.forEach(p -> expected.put(p[0], p[1])); // a repeated key: the last one wins
            assertEquals(expected, CniInvocation.parseArgs(text), "seed " + seed + " try " + i + ": " + text);
        }
    }
}
