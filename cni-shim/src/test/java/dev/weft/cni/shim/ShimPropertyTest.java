package dev.weft.cni.shim;

import org.junit.jupiter.api.Test;

import java.io.ByteArrayOutputStream;
import java.io.PrintStream;
import java.nio.charset.StandardCharsets;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import java.util.Random;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * Hostile input to the shim's own JSON parser and to a whole invocation: whatever the runtime passes, the shim exits
 * 0 or 1, and on 1 prints a spec error object; the parser returns a value or a {@link Json.ParseException}, nothing
 * else. Inputs come from a fixed-seed {@link Random} (its value is in every failure message, so it replays); tries are
 * bounded so each property runs in a second or two.
 */
class ShimPropertyTest {

    private static final String[] JSON_TOKENS = {"{", "}", "[", "]", ",", ":", "\"", "\\", "\\u12", "\\u00e9", "true",
            "fals", "null", "-", "0", "1e5", "-0.5e-", "\"cniVersion\"", "\"1.1.0\"", " ", "\n", "\u0000", "\uD800"};

    private static String oneOf(Random rnd, String... choices) {
        return choices[rnd.nextInt(choices.length)];
    }

    /**
     * Any string up to {@code maxLength} chars: printable ASCII, control characters, and any UTF-16 unit (lone
     * surrogates included).
     */
    static String anyString(Random rnd, int maxLength) {
        StringBuilder sb = new StringBuilder();
        for (int n = rnd.nextInt(maxLength + 1); n > 0; n--) {
            int kind = rnd.nextInt(10);
            sb.append((char) (kind < 5 ? 0x20 + rnd.nextInt(0x5f) : kind < 7 ? rnd.nextInt(0x20) : rnd.nextInt(0x10000)));
        }
        return sb.toString();
    }

    /** Mostly JSON-looking text (the interesting cases), plus arbitrary strings. */
    static String jsonish(Random rnd) {
        if (rnd.nextBoolean()) {
            return anyString(rnd, 60);
        }
        StringBuilder sb = new StringBuilder();
        for (int n = rnd.nextInt(41); n > 0; n--) {
            sb.append(oneOf(rnd, JSON_TOKENS));
        }
        return sb.toString();
    }

    @Test
    void parserReturnsAValueOrAParseException() {
        long seed = 11;
        Random rnd = new Random(seed);
        for (int i = 0; i < 2000; i++) {
            String text = jsonish(rnd);
            try {
                Json.parse(text);
            } catch (Json.ParseException e) {
                assertTrue(e.getMessage().contains("at offset"), "seed " + seed + " try " + i + ": " + e.getMessage());
            } catch (RuntimeException | StackOverflowError e) {
                throw new AssertionError("seed " + seed + " try " + i + ": " + Json.quote(text) + " threw " + e, e);
            }
        }
    }

    @Test
    void deeplyNestedInputIsNoCrash() {
        long seed = 12;
        Random rnd = new Random(seed);
        for (int i = 0; i < 300; i++) {
            int depth = 1 + rnd.nextInt(100_000);
            String text = "[".repeat(depth) + "]".repeat(depth);
            try {
                Json.parse(text);
            } catch (Json.ParseException e) {
                assertTrue(e.getMessage().contains("nest"), "seed " + seed + " depth " + depth + ": " + e.getMessage());
            } catch (RuntimeException | StackOverflowError e) {
                throw new AssertionError("seed " + seed + " depth " + depth + " threw " + e, e);
            }
        }
    }

    @Test
    void quotedStringsParseBack() throws Exception {
        long seed = 13;
        Random rnd = new Random(seed);
        for (int i = 0; i < 1000; i++) {
            String s = anyString(rnd, 40);
            assertEquals(s, Json.parse(Json.quote(s)), "seed " + seed + " try " + i + ": " + Json.quote(s));
        }
    }

    private static Map<String, String> environment(Random rnd) {
        Map<String, String> env = new HashMap<>();
        env.put("CNI_COMMAND", oneOf(rnd, "ADD", "DEL", "CHECK", "GC", "STATUS", "VERSION", "", "add", "FROB"));
        for (String name : List.of("CNI_CONTAINERID", "CNI_NETNS", "CNI_IFNAME", "CNI_ARGS")) {
            env.put(name, rnd.nextBoolean() ? anyString(rnd, 20)
                    : oneOf(rnd, "ctr-1", "/var/run/netns/x", "eth0", "K8S_POD_NAME=a;K8S_POD_NAMESPACE=b", ";;=", "="));
        }
        env.put("CNI_PATH", "/opt/cni/bin");
        return env;
    }

    /** Configurations pointing at a socket that does not exist: the shim must decide everything it can itself. */
    private static String config(Random rnd) {
        if (rnd.nextBoolean()) {
            return jsonish(rnd);
        }
        return "{\"cniVersion\":\"" + oneOf(rnd, "1.1.0", "1.0.0", "0.4.0", "9.9", "", "1") + "\",\"name\":\"weft\",\"type\":\""
                + oneOf(rnd, "weft", "bridge", "")
                + "\",\"agentSocket\":\"/nonexistent/weft-prop.sock\",\"cni.dev/valid-attachments\":[]}";
    }

    @Test
    void everyInvocationExitsZeroOrOneWithASpecErrorObject() throws Exception {
        long seed = 14;
        Random rnd = new Random(seed);
        for (int i = 0; i < 1000; i++) {
            Map<String, String> env = environment(rnd);
            String config = config(rnd);
            String what = "seed " + seed + " try " + i + ": " + env + " " + Json.quote(config);
            ByteArrayOutputStream buf = new ByteArrayOutputStream();
            int exit = Shim.run(env, config.getBytes(StandardCharsets.UTF_8), new PrintStream(buf, true, StandardCharsets.UTF_8));
            String out = buf.toString(StandardCharsets.UTF_8);
            assertTrue(exit == 0 || exit == 1, "exit " + exit + ", " + what);
            if (exit == 1) {
                Object parsed = Json.parse(out.strip());
                assertTrue(parsed instanceof Map<?, ?> m && m.get("code") instanceof Number && m.get("msg") instanceof String
                        && !((String) m.get("msg")).isBlank(), out + " for " + what);
            } else {
                assertTrue(List.of("VERSION").contains(env.get("CNI_COMMAND")) || out.isEmpty(), what + " -> " + out);
            }
        }
    }
}
