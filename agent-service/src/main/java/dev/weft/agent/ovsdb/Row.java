package dev.weft.agent.ovsdb;

import com.fasterxml.jackson.databind.node.JsonNodeFactory;
import com.fasterxml.jackson.databind.node.ObjectNode;

import java.util.Map;

/** Column values of a row to insert, update, or compare in a {@code wait}. Immutable: {@link #with} returns a copy. */
public final class Row {

    private static final JsonNodeFactory N = JsonNodeFactory.instance;
    private final ObjectNode columns;

    private Row(ObjectNode columns) {
        this.columns = columns;
    }

    public static Row empty() {
        return new Row(N.objectNode());
    }

    public Row with(String column, Datum value) {
        ObjectNode copy = columns.deepCopy();
        copy.set(column, value.json());
        return new Row(copy);
    }

    public Row with(String column, String value) {
        return with(column, Datum.of(value));
    }

    public Row with(String column, long value) {
        return with(column, Datum.of(value));
    }

    public Row withMap(String column, Map<String, String> value) {
        return with(column, Datum.map(value));
    }

    public boolean isEmpty() {
        return columns.isEmpty();
    }

    ObjectNode json() {
        return columns.deepCopy();
    }

    @Override
    public String toString() {
        return columns.toString();
    }
}
