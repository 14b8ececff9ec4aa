package dev.weft.cni.shim;

import net.jqwik.api.Arbitraries;
import net.jqwik.api.Arbitrary;
import net.jqwik.api.Combinators;
import net.jqwik.api.ForAll;
import net.jqwik.api.Property;
import net.jqwik.api.Provide;

import java.io.ByteArrayOutputStream;
import java.io.PrintStream;
import java.nio.charset.StandardCharsets;
import java.util.HashMap;
import java.util.List;
import java.util.Map;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * Hostile input to the shim's own JSON parser and to a whole invocation: whatever the runtime passes, the shim exits
 * 0 or 1, and on 1 prints a spec error object; the parser returns a value or a {@link Json.ParseException}, nothing
 * else. Tries are bounded so each property runs in a second or two.
 */
class ShimPropertyTest {

    @Provide
    Arbitrary<String> jsonish() {
        // Mostly JSON-looking text (the interesting cases), plus arbitrary strings.
        Arbitrary<String> tokens = Arbitraries.of("{", "}", "[", "]", ",", ":", "\"", "\\", "\\u12", "\\u00e9", "true",
                "fals", "null", "-", "0", "1e5", "-0.5e-", "\"cniVersion\"", "\"1.1.0\"", " ", "\n", "\u0000", "\uD800");
        Arbitrary<String> joined = tokens.list().ofMaxSize(40).map(l -> String.join("", l));
        return Arbitraries.oneOf(joined, Arbitraries.strings().ofMaxLength(60));
    }

    @Property(tries = 2000)
    void parserReturnsAValueOrAParseException(@ForAll("jsonish") String text) {
        try {
            Json.parse(text);
        } catch (Json.ParseException e) {
            assertTrue(e.getMessage().contains("at offset"), e.getMessage());
        }
    }

    @Property(tries = 300)
    void deeplyNestedInputIsNoCrash(@ForAll("depths") int depth) {
        String text = "[".repeat(depth) + "]".repeat(depth);
        try {
            Json.parse(text);
        } catch (Json.ParseException e) {
            assertTrue(e.getMessage().contains("nest"), e.getMessage());
        }
    }

    @Provide
    Arbitrary<Integer> depths() {
        return Arbitraries.integers().between(1, 100_000);
    }

    @Property(tries = 1000)
    void quotedStringsParseBack(@ForAll String s) throws Exception {
        assertEquals(s, Json.parse(Json.quote(s)));
    }

    @Provide
    Arbitrary<Map<String, String>> environments() {
        Arbitrary<String> command = Arbitraries.of("ADD", "DEL", "CHECK", "GC", "STATUS", "VERSION", "", "add", "FROB");
        Arbitrary<String> value = Arbitraries.oneOf(Arbitraries.strings().ofMaxLength(20),
                Arbitraries.of("ctr-1", "/var/run/netns/x", "eth0", "K8S_POD_NAME=a;K8S_POD_NAMESPACE=b", ";;=", "="));
        return Combinators.combine(command, value, value, value, value).as((c, id, netns, ifn, args) -> {
            Map<String, String> env = new HashMap<>();
            env.put("CNI_COMMAND", c);
            env.put("CNI_CONTAINERID", id);
            env.put("CNI_NETNS", netns);
            env.put("CNI_IFNAME", ifn);
            env.put("CNI_ARGS", args);
            env.put("CNI_PATH", "/opt/cni/bin");
            return env;
        });
    }

    @Provide
    Arbitrary<String> configs() {
        // Configurations pointing at a socket that does not exist: the shim must decide everything it can itself.
        Arbitrary<String> version = Arbitraries.of("1.1.0", "1.0.0", "0.4.0", "9.9", "", "1");
        Arbitrary<String> valid = Combinators.combine(version, Arbitraries.of("weft", "bridge", "")).as((v, t) ->
                "{\"cniVersion\":\"" + v + "\",\"name\":\"weft\",\"type\":\"" + t
                        + "\",\"agentSocket\":\"/nonexistent/weft-prop.sock\",\"cni.dev/valid-attachments\":[]}");
        return Arbitraries.oneOf(valid, jsonish());
    }

    @Property(tries = 1000)
    void everyInvocationExitsZeroOrOneWithASpecErrorObject(@ForAll("environments") Map<String, String> env,
                                                         @ForAll("configs") String config) throws Exception {
        ByteArrayOutputStream buf = new ByteArrayOutputStream();
        int exit = Shim.run(env, config.getBytes(StandardCharsets.UTF_8), new PrintStream(buf, true, StandardCharsets.UTF_8));
        String out = buf.toString(StandardCharsets.UTF_8);
        assertTrue(exit == 0 || exit == 1, "exit " + exit);
        if (exit == 1) {
            Object parsed = Json.parse(out.strip());
            assertTrue(parsed instanceof Map<?, ?> m && m.get("code") instanceof Number && m.get("msg") instanceof String
                    && !((String) m.get("msg")).isBlank(), out);
        } else {
            assertTrue(List.of("VERSION").contains(env.get("CNI_COMMAND")) || out.isEmpty(), env + " -> " + out);
        }
    }
}
