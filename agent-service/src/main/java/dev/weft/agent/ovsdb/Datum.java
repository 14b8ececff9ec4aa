package dev.weft.agent.ovsdb;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.node.ArrayNode;
import com.fasterxml.jackson.databind.node.JsonNodeFactory;

import java.util.Collection;
import java.util.Map;

/**
 * A value as RFC 7047 writes it on the wire (§5.1 "Notation"): an atom (string, integer, boolean, {@code ["uuid", U]},
 * {@code ["named-uuid", N]}), a set {@code ["set", [atoms]]} or a map {@code ["map", [[k, v], ...]]}. Immutable; the
 * only way the operation builder accepts values, so callers never assemble these arrays by hand.
 */
public final class Datum {

    private static final JsonNodeFactory N = JsonNodeFactory.instance;
    private final JsonNode json;

    private Datum(JsonNode json) {
        this.json = json;
    }

    public static Datum of(String s) {
        return new Datum(N.textNode(s));
    }

    public static Datum of(long n) {
        return new Datum(N.numberNode(n));
    }

    public static Datum of(boolean b) {
        return new Datum(N.booleanNode(b));
    }

    /** A reference to an existing row. */
    public static Datum uuid(String uuid) {
        return new Datum(N.arrayNode().add("uuid").add(uuid));
    }

    /** A reference to a row inserted earlier in the same transaction under {@code uuid-name}. */
    public static Datum namedUuid(String name) {
        return new Datum(N.arrayNode().add("named-uuid").add(name));
    }

    /** A set of strings (e.g. Bridge.protocols, or the keys to delete from a map). */
    public static Datum stringSet(Collection<String> values) {
        ArrayNode atoms = N.arrayNode();
        values.forEach(atoms::add);
        return new Datum(N.arrayNode().add("set").add(atoms));
    }

    /** A set of row references (uuid or named-uuid atoms). */
    public static Datum refSet(Collection<Datum> refs) {
        ArrayNode atoms = N.arrayNode();
        refs.forEach(r -> atoms.add(r.json));
        return new Datum(N.arrayNode().add("set").add(atoms));
    }

    /** The empty set: how an optional column ([0..1]) is cleared or compared against "unset". */
    public static Datum emptySet() {
        return new Datum(N.arrayNode().add("set").add(N.arrayNode()));
    }

    /** A string-to-string map (external_ids, other_config, options). */
    public static Datum map(Map<String, String> m) {
        ArrayNode pairs = N.arrayNode();
        m.forEach((k, v) -> pairs.add(N.arrayNode().add(k).add(v)));
        return new Datum(N.arrayNode().add("map").add(pairs));
    }

    JsonNode json() {
        return json;
    }

    @Override
    public String toString() {
        return json.toString();
    }
}
