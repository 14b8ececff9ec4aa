package dev.weft.agent.ovsdb;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.node.ArrayNode;
import com.fasterxml.jackson.databind.node.JsonNodeFactory;
import net.jqwik.api.Arbitraries;
import net.jqwik.api.Arbitrary;
import net.jqwik.api.ForAll;
import net.jqwik.api.Property;
import net.jqwik.api.Provide;

import java.util.List;
import java.util.Map;

import static org.junit.jupiter.api.Assertions.assertEquals;

/**
 * The OVSDB column decoders on what a server may send: OVSDB's own encodings round-trip ({@code ["map", ...]},
 * {@code ["set", [...]]}, single atoms), and any other JSON value gives an empty/zero result rather than an exception
 * (a column of an unexpected shape must not break a listing of ports).
 */
class OvsdbJsonPropertyTest {

    private static final JsonNodeFactory N = JsonNodeFactory.instance;

    @Property(tries = 1000)
    void mapsRoundTrip(@ForAll Map<String, String> m) {
        assertEquals(m, OvsdbClient.readMap(OvsdbClient.map(m)));
    }

    @Property(tries = 1000)
    void uuidSetsAndAtomsRoundTrip(@ForAll("uuidLists") List<String> uuids) {
        ArrayNode set = OvsdbClient.set(uuids.stream().map(u -> (JsonNode) OvsdbClient.uuid(u)).toList());
        assertEquals(uuids, OvsdbClient.uuids(set));
        if (!uuids.isEmpty()) {
            assertEquals(List.of(uuids.getFirst()), OvsdbClient.uuids(OvsdbClient.uuid(uuids.getFirst())));
        }
    }

    @Provide
    Arbitrary<List<String>> uuidLists() {
        return Arbitraries.strings().withChars("0123456789abcdef-").ofLength(36).list().uniqueElements().ofMaxSize(5);
    }

    @Provide
    Arbitrary<JsonNode> anyJson() {
        return json(4);
    }

    private Arbitrary<JsonNode> json(int depth) {
        Arbitrary<JsonNode> atom = Arbitraries.oneOf(
                Arbitraries.of("map", "set", "uuid", "named-uuid", "", "x").map(s -> (JsonNode) N.textNode(s)),
                Arbitraries.integers().between(-3, 70000).map(i -> (JsonNode) N.numberNode(i)),
                Arbitraries.of((JsonNode) N.nullNode(), N.booleanNode(true), N.objectNode()));
        if (depth == 0) {
            return atom;
        }
        Arbitrary<JsonNode> array = json(depth - 1).list().ofMaxSize(3).map(l -> {
            ArrayNode a = N.arrayNode();
            l.forEach(a::add);
            return a;
        });
        return Arbitraries.oneOf(atom, array, array);
    }

    @Property(tries = 3000)
    void anyJsonValueDecodesWithoutAnException(@ForAll("anyJson") JsonNode n) {
        OvsdbClient.readMap(n);
        OvsdbClient.uuids(n);
        OvsdbClient.optionalInt(n);
        OvsdbClient.optionalString(n);
    }
}
