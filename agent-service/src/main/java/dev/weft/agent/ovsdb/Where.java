package dev.weft.agent.ovsdb;

import com.fasterxml.jackson.databind.node.ArrayNode;
import com.fasterxml.jackson.databind.node.JsonNodeFactory;

/**
 * A where clause (RFC 7047 §5.1 "Condition"): conditions that must all hold. Immutable; {@link #and} returns a new
 * clause.
 */
public final class Where {

    private static final JsonNodeFactory N = JsonNodeFactory.instance;
    private final ArrayNode conditions;

    private Where(ArrayNode conditions) {
        this.conditions = conditions;
    }

    /** Every row of the table. */
    public static Where all() {
        return new Where(N.arrayNode());
    }

    /** The row whose {@code name} column is {@code name} (names are unique in Bridge, Port and Interface). */
    public static Where name(String name) {
        return all().and("name", "==", Datum.of(name));
    }

    /** The row with this {@code _uuid}. */
    public static Where uuid(String uuid) {
        return all().and("_uuid", "==", Datum.uuid(uuid));
    }

    /** Column equals value. */
    public static Where eq(String column, Datum value) {
        return all().and(column, "==", value);
    }

    /**
     * Adds a condition; {@code function} is one of RFC 7047's {@code == != < <= > >= includes excludes}.
     */
    public Where and(String column, String function, Datum value) {
        ArrayNode copy = conditions.deepCopy();
        copy.add(N.arrayNode().add(column).add(function).add(value.json()));
        return new Where(copy);
    }

    ArrayNode json() {
        return conditions.deepCopy();
    }

    @Override
    public String toString() {
        return conditions.toString();
    }
}
