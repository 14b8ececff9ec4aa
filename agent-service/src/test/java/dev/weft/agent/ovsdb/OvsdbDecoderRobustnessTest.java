package dev.weft.agent.ovsdb;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.node.ArrayNode;
import com.fasterxml.jackson.databind.node.JsonNodeFactory;
import com.fasterxml.jackson.databind.node.ObjectNode;
import org.junit.jupiter.api.Test;

import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.Random;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTimeoutPreemptively;
import static org.junit.jupiter.api.Assertions.assertTrue;
import static org.junit.jupiter.api.Assertions.fail;

/**
 * What the client does with a peer on the OVSDB socket that is not a well-behaved ovsdb-server: every call ends with
 * an {@link OvsdbException} that says what was wrong, and never hangs (each call is bounded by the request timeout;
 * the preemptive bound of each test only guards against a hang and is far above it).
 */
class OvsdbDecoderRobustnessTest {

    private static final JsonNodeFactory N = JsonNodeFactory.instance;
    /** Far above any call's own bound: reached only if a call hangs. */
    private static final Duration HANG_GUARD = Duration.ofSeconds(60);
    /** Generous for a reply that comes, short enough that "no reply" cases stay quick. */
    private static final Duration REQUEST_TIMEOUT = Duration.ofSeconds(3);

    /** Replies with the given bytes to every request. */
    private static FakeOvsdbServer replying(byte[] bytes) throws IOException {
        return new FakeOvsdbServer(request -> bytes);
    }

    private static byte[] utf8(String s) {
        return s.getBytes(StandardCharsets.UTF_8);
    }

    private static byte[] replyTo(JsonNode request, JsonNode result) throws IOException {
        ObjectNode reply = N.objectNode();
        reply.set("id", request.get("id"));
        reply.set("result", result);
        reply.putNull("error");
        return FakeOvsdbServer.JSON.writeValueAsBytes(reply);
    }

    /** Runs {@code call} against the server and returns the OvsdbException it must end with. */
    private static OvsdbException failure(FakeOvsdbServer server, OvsdbCall call) {
        return assertTimeoutPreemptively(HANG_GUARD, () -> {
            try (OvsdbClient client = new OvsdbClient(server.socket(), REQUEST_TIMEOUT)) {
                return assertThrows(OvsdbException.class, () -> call.run(client));
            }
        });
    }

    interface OvsdbCall {
        void run(OvsdbClient client) throws Exception;
    }

    @Test
    void bytesThatAreNotJsonFailAtOnceAsMalformed() throws Exception {
        try (FakeOvsdbServer server = replying(utf8("HTTP/1.1 400 Bad Request\r\nContent-Length: 0\r\n\r\n"))) {
            for (OvsdbCall call : List.<OvsdbCall>of(OvsdbClient::listDbs, c -> c.bridgeExists("br-int"),
                    c -> c.addPort("br-int", PortSpec.of("p1", "internal"), Duration.ofSeconds(1)))) {
                OvsdbException e = failure(server, call);
                assertTrue(e.getMessage().contains("sent malformed JSON"), e.getMessage());
                assertTrue(e.getMessage().contains(server.socket().toString()), e.getMessage());
                // Failed on the bytes, not by waiting out the request timeout.
                assertFalse(e.getMessage().contains("no reply within"), e.getMessage());
            }
        }
    }

    @Test
    void garbageSentOnConnectBeforeAnyRequest() throws Exception {
        try (FakeOvsdbServer server = new FakeOvsdbServer(new FakeOvsdbServer.Script() {
            public byte[] onConnect() {
                return utf8("SSH-2.0-OpenSSH_9.2\r\n");
            }

            public byte[] reply(JsonNode request) {
                return null;
            }
        })) {
            OvsdbException e = failure(server, OvsdbClient::listDbs);
            assertTrue(e.getMessage().contains("malformed JSON"), e.getMessage());
            OvsdbException m = failure(server, c -> c.setBridgeExternalIds("br-int", Map.of("k", "v")));
            assertTrue(m.getMessage().contains("malformed JSON"), m.getMessage());
        }
    }

    @Test
    void invalidUtf8TruncatedJsonAndRunawayNesting() throws Exception {
        byte[] invalidUtf8 = {'{', '"', 'i', 'd', '"', ':', '1', ',', '"', (byte) 0xff, (byte) 0xfe, '"', ':', '1', '}'};
        byte[] truncated = utf8("{\"id\":1,\"result\":[{\"rows\":[");
        byte[] nested = utf8("[".repeat(5000));
        for (byte[] bytes : List.of(invalidUtf8, nested)) {
            try (FakeOvsdbServer server = replying(bytes)) {
                OvsdbException e = failure(server, c -> c.getPort("p1"));
                assertTrue(e.getMessage().contains("malformed JSON"), e.getMessage());
            }
        }
        try (FakeOvsdbServer server = new FakeOvsdbServer(new FakeOvsdbServer.Script() {
            public byte[] reply(JsonNode request) {
                return truncated;
            }

            public boolean closeAfterReply() {
                return true;
            }
        })) {
            OvsdbException e = failure(server, c -> c.listPorts("br-int"));
            assertTrue(e.getMessage().contains("malformed JSON"), e.getMessage());
        }
    }

    @Test
    void jsonThatIsNotJsonRpc() throws Exception {
        try (FakeOvsdbServer server = replying(utf8("[1, 2, 3]"))) {
            OvsdbException e = failure(server, OvsdbClient::listDbs);
            assertTrue(e.getMessage().contains("broke JSON-RPC: a message that is not a JSON object"), e.getMessage());
        }
        try (FakeOvsdbServer server = new FakeOvsdbServer(request -> utf8("{\"id\":" + request.get("id") + ",\"error\":null}"))) {
            OvsdbException e = failure(server, OvsdbClient::schemaVersion);
            assertTrue(e.getMessage().contains("a reply without result"), e.getMessage());
        }
        try (FakeOvsdbServer server = new FakeOvsdbServer(request ->
                utf8("{\"id\":" + request.get("id") + ",\"result\":null,\"error\":\"unknown database\"}"))) {
            OvsdbException e = failure(server, OvsdbClient::ovsVersion);
            assertEquals("OVSDB error: \"unknown database\"", e.getMessage());
        }
    }

    @Test
    void wellFormedRepliesOfTheWrongShapeNameWhatIsWrong() throws Exception {
        record Case(OvsdbCall call, JsonNode result, String expected) {
        }
        ObjectNode rowWithBadName = N.objectNode();
        rowWithBadName.set("_uuid", N.arrayNode().add("uuid").add("u1"));
        rowWithBadName.put("name", 7);
        rowWithBadName.set("interfaces", N.arrayNode().add("set").add(N.arrayNode()));
        rowWithBadName.set("external_ids", N.arrayNode().add("map").add(N.arrayNode()));
        List<Case> cases = List.of(
                new Case(OvsdbClient::listDbs, N.objectNode(), "list_dbs: malformed reply (not an array)"),
                new Case(OvsdbClient::listDbs, N.arrayNode().add(1), "a name that is not a string"),
                new Case(c -> c.bridgeExists("b"), N.objectNode(), "transact: malformed reply (not an array)"),
                new Case(c -> c.bridgeExists("b"), N.arrayNode(), "0 results for 1 operations"),
                new Case(c -> c.bridgeExists("b"), N.arrayNode().add("x"), "select Bridge: malformed result"),
                new Case(c -> c.bridgeExists("b"), N.arrayNode().add(N.objectNode().put("rows", "x")), "select Bridge: malformed result (no rows array)"),
                new Case(c -> c.getPort("p"), N.arrayNode().add(N.objectNode().set("rows", N.arrayNode().add(rowWithBadName)))
                        .add(N.objectNode().set("rows", N.arrayNode())), "select Port: column name is not a string: 7"),
                new Case(c -> c.setBridgeExternalIds("b", Map.of("k", "v")), N.arrayNode().add(N.objectNode().put("count", "two")),
                        "mutate Bridge: malformed result (no count)"),
                new Case(c -> c.getBridge("b"), N.arrayNode().add(N.objectNode().set("rows", N.arrayNode().add(N.objectNode()))),
                        "select Bridge: column _uuid missing from the reply"));
        for (Case k : cases) {
            try (FakeOvsdbServer server = new FakeOvsdbServer(request -> replyTo(request, k.result()))) {
                OvsdbException e = failure(server, k.call());
                assertTrue(e.getMessage().contains(k.expected()), "expected '" + k.expected() + "' in: " + e.getMessage());
            }
        }
    }

    @Test
    void aServerThatNeverAnswersTimesOut() throws Exception {
        try (FakeOvsdbServer server = new FakeOvsdbServer(request -> null)) {
            OvsdbException e = failure(server, OvsdbClient::listDbs);
            assertEquals("OVSDB list_dbs got no reply within " + REQUEST_TIMEOUT.toMillis() + " ms", e.getMessage());
        }
    }

    @Test
    void answersTheServersEchoWhileACallWaits() throws Exception {
        try (FakeOvsdbServer server = new FakeOvsdbServer(request -> {
            if ("echo".equals(request.path("id").asText())) {
                // our answer to the server's echo: now answer the pending list_dbs (id 1 of this connection)
                return utf8("{\"id\":1,\"result\":[\"Open_vSwitch\"],\"error\":null}");
            }
            return utf8("{\"method\":\"echo\",\"params\":[\"ping\"],\"id\":\"echo\"}");
        })) {
            List<String> dbs = assertTimeoutPreemptively(HANG_GUARD, () -> {
                try (OvsdbClient client = new OvsdbClient(server.socket(), REQUEST_TIMEOUT)) {
                    return client.listDbs();
                }
            });
            assertEquals(List.of("Open_vSwitch"), dbs);
            JsonNode echoReply = server.received.get(1);
            assertEquals("echo", echoReply.get("id").asText());
            assertEquals(N.arrayNode().add("ping"), echoReply.get("result"));
        }
    }

    /**
     * Arbitrary JSON as the result of every domain operation: each call returns or throws an OvsdbException (no
     * NullPointerException, ClassCastException, IndexOutOfBounds...). Seeded, so a failure is reproducible.
     */
    @Test
    void arbitraryResultsNeverEscapeAsAnythingButOvsdbException() throws Exception {
        Random random = new Random(20261201L);
        List<OvsdbCall> calls = List.of(OvsdbClient::listDbs, OvsdbClient::ovsVersion, OvsdbClient::schemaVersion,
                c -> c.bridgeExists("b"), c -> c.getBridge("b"),
                c -> c.createBridge(new BridgeSpec("b", "netdev", "secure", List.of("OpenFlow13"), Map.of(), Map.of())),
                c -> c.setBridgeFailMode("b", "secure"), c -> c.addBridgeProtocols("b", List.of("OpenFlow13")),
                c -> c.getBridgeExternalIds("b"), c -> c.setBridgeExternalIds("b", Map.of("k", "v"), List.of("x")),
                c -> c.setBridgeOtherConfig("b", Map.of("k", "v"), List.of()),
                c -> c.addPort("b", PortSpec.of("p", "internal"), Duration.ofMillis(100)),
                c -> c.awaitOfport("p", Duration.ofMillis(100)), c -> c.deletePort("b", "p"), c -> c.deletePort("p"),
                c -> c.bridgeOfPort("p"), c -> c.listPorts("b"), c -> c.getPort("p"),
                c -> c.setPortExternalIds("p", Map.of("k", "v"), List.of()),
                c -> c.updateInterface("p", InterfaceUpdate.none().mac("0a:00:00:00:00:01")));
        try (FakeOvsdbServer server = new FakeOvsdbServer(request -> {
            synchronized (random) {
                return replyTo(request, randomResult(random));
            }
        })) {
            assertTimeoutPreemptively(HANG_GUARD, () -> {
                try (OvsdbClient client = new OvsdbClient(server.socket(), REQUEST_TIMEOUT)) {
                    List<String> escaped = new ArrayList<>();
                    for (int round = 0; round < 300; round++) {
                        for (OvsdbCall call : calls) {
                            try {
                                call.run(client);
                            } catch (OvsdbException expected) {
                                // the contract
                            } catch (Exception | Error e) {
                                escaped.add(e.getClass().getSimpleName() + ": " + e.getMessage());
                            }
                        }
                    }
                    if (!escaped.isEmpty()) {
                        fail(escaped.size() + " calls ended with something else than OvsdbException, e.g. " + escaped.getFirst());
                    }
                }
            });
        }
    }

    /**
     * Random replies biased towards what OVSDB sends: mostly one result object per operation carrying rows, count and
     * uuid, with rows whose columns are mostly of the right type, so decoding gets deep before something is wrong.
     */
    private static JsonNode randomResult(Random r) {
        if (r.nextInt(6) == 0) {
            return randomValue(r, 0);
        }
        ArrayNode results = N.arrayNode();
        int n = r.nextInt(8);
        for (int i = 0; i < n; i++) {
            if (r.nextInt(8) == 0) {
                results.add(randomValue(r, 1));
                continue;
            }
            ObjectNode o = N.objectNode();
            ArrayNode rows = N.arrayNode();
            for (int k = r.nextInt(3); k > 0; k--) {
                rows.add(r.nextInt(12) == 0 ? randomValue(r, 2) : randomRow(r));
            }
            o.set("rows", r.nextInt(12) == 0 ? randomValue(r, 2) : rows);
            o.set("count", r.nextInt(12) == 0 ? randomValue(r, 2) : N.numberNode(r.nextInt(3)));
            o.set("uuid", r.nextInt(12) == 0 ? randomValue(r, 2) : uuidAtom(r));
            if (r.nextInt(12) == 0) {
                o.set("error", randomValue(r, 2));
            }
            results.add(o);
        }
        return results;
    }

    private static ArrayNode uuidAtom(Random r) {
        return N.arrayNode().add("uuid").add("u" + r.nextInt(3));
    }

    /** A row with every column the client reads, each of its schema type except now and then. */
    private static ObjectNode randomRow(Random r) {
        ObjectNode row = N.objectNode();
        Map<String, String> types = Map.ofEntries(Map.entry("_uuid", "uuid"), Map.entry("name", "string"),
                Map.entry("type", "string"), Map.entry("datapath_type", "string"), Map.entry("ofport", "optional-int"),
                Map.entry("external_ids", "map"), Map.entry("options", "map"), Map.entry("other_config", "map"),
                Map.entry("error", "optional-string"), Map.entry("fail_mode", "optional-string"),
                Map.entry("ovs_version", "optional-string"), Map.entry("interfaces", "uuid-set"),
                Map.entry("ports", "uuid-set"), Map.entry("protocols", "string-set"));
        for (var col : new java.util.TreeMap<>(types).entrySet()) {
            int dice = r.nextInt(30);
            if (dice == 0) {
                continue; // column missing
            }
            row.set(col.getKey(), dice == 1 ? randomColumnValue(r) : validValue(r, col.getValue()));
        }
        return row;
    }

    private static JsonNode validValue(Random r, String type) {
        return switch (type) {
            case "uuid" -> uuidAtom(r);
            case "string" -> N.textNode(randomKey(r));
            case "optional-int" -> r.nextBoolean() ? N.numberNode(r.nextInt(5) - 1)
                    : N.arrayNode().add("set").add(r.nextBoolean() ? N.arrayNode() : N.arrayNode().add(r.nextInt(100)));
            case "optional-string" -> r.nextBoolean() ? N.textNode(randomKey(r))
                    : N.arrayNode().add("set").add(r.nextBoolean() ? N.arrayNode() : N.arrayNode().add(randomKey(r)));
            case "map" -> {
                ArrayNode pairs = N.arrayNode();
                for (int k = r.nextInt(3); k > 0; k--) {
                    pairs.add(N.arrayNode().add(randomKey(r)).add(randomKey(r)));
                }
                yield N.arrayNode().add("map").add(pairs);
            }
            case "uuid-set" -> {
                if (r.nextBoolean()) {
                    yield uuidAtom(r);
                }
                ArrayNode atoms = N.arrayNode();
                for (int k = r.nextInt(3); k > 0; k--) {
                    atoms.add(uuidAtom(r));
                }
                yield N.arrayNode().add("set").add(atoms);
            }
            default -> r.nextBoolean() ? N.textNode("OpenFlow13")
                    : N.arrayNode().add("set").add(N.arrayNode().add("OpenFlow10").add("OpenFlow13"));
        };
    }

    /** A value of some OVSDB shape, not necessarily the column's. */
    private static JsonNode randomColumnValue(Random r) {
        return switch (r.nextInt(5)) {
            case 0 -> N.arrayNode().add("uuid").add(randomValue(r, 2));
            case 1 -> N.arrayNode().add("set").add(randomValue(r, 2));
            case 2 -> N.arrayNode().add("map").add(N.arrayNode().add(randomValue(r, 2)));
            case 3 -> N.arrayNode().add(r.nextBoolean() ? "map" : "set");
            default -> randomValue(r, 1);
        };
    }

    private static String randomKey(Random r) {
        return List.of("rows", "count", "uuid", "error", "details", "name", "x", "").get(r.nextInt(8));
    }

    private static JsonNode randomValue(Random r, int depth) {
        int kind = depth > 3 ? r.nextInt(5) : r.nextInt(7);
        return switch (kind) {
            case 0 -> N.nullNode();
            case 1 -> N.booleanNode(r.nextBoolean());
            case 2 -> N.numberNode(r.nextInt(7) - 2);
            case 3 -> N.numberNode(r.nextLong());
            case 4 -> N.textNode(randomKey(r));
            case 5 -> {
                ArrayNode a = N.arrayNode();
                for (int k = r.nextInt(4); k > 0; k--) {
                    a.add(randomValue(r, depth + 1));
                }
                yield a;
            }
            default -> {
                ObjectNode o = N.objectNode();
                for (int k = r.nextInt(4); k > 0; k--) {
                    o.set(randomKey(r), randomValue(r, depth + 1));
                }
                yield o;
            }
        };
    }
}
