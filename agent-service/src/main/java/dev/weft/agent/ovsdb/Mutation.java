package dev.weft.agent.ovsdb;

import com.fasterxml.jackson.databind.node.ArrayNode;
import com.fasterxml.jackson.databind.node.JsonNodeFactory;

import java.util.Collection;
import java.util.Map;

/**
 * One mutation of a {@code mutate} operation (RFC 7047 §5.1 "Mutation"). Mutations change a set or map column
 * relative to its current value inside the server's transaction, so concurrent writers of other keys are kept.
 */
public record Mutation(String column, String mutator, Datum value) {

    private static final JsonNodeFactory N = JsonNodeFactory.instance;

    /** Adds elements to a set, or pairs to a map (a key already present keeps its old value). */
    public static Mutation insert(String column, Datum value) {
        return new Mutation(column, "insert", value);
    }

    /** Removes elements from a set, or pairs from a map (by a map of pairs, or by a set of keys). */
    public static Mutation delete(String column, Datum value) {
        return new Mutation(column, "delete", value);
    }

    /** Removes these keys from a map column, whatever their values. */
    public static Mutation deleteKeys(String column, Collection<String> keys) {
        return delete(column, Datum.stringSet(keys));
    }

    /** Adds these pairs to a map column. */
    public static Mutation insertPairs(String column, Map<String, String> pairs) {
        return insert(column, Datum.map(pairs));
    }

    ArrayNode json() {
        return N.arrayNode().add(column).add(mutator).add(value.json());
    }
}
