package dev.weft.agent.ovsdb;

import com.fasterxml.jackson.databind.node.ArrayNode;
import com.fasterxml.jackson.databind.node.JsonNodeFactory;
import com.fasterxml.jackson.databind.node.ObjectNode;

import java.time.Duration;
import java.util.List;

/**
 * One operation of an RFC 7047 {@code transact} (§5.2): select, insert, update, mutate, delete, wait, comment.
 * Immutable. Build a transaction as a list of these and run it with {@link OvsdbTransport#transact}; the server
 * applies all of them or none.
 */
public final class Op {

    private static final JsonNodeFactory N = JsonNodeFactory.instance;

    /** What a {@code wait} waits for: the selected rows to become equal, or to stop being equal, to the given rows. */
    public enum Until {
        EQUAL("=="), NOT_EQUAL("!=");

        final String wire;

        Until(String wire) {
            this.wire = wire;
        }
    }

    private final String op;
    private final String table;
    private final ObjectNode json;

    private Op(String op, String table, ObjectNode json) {
        this.op = op;
        this.table = table;
        this.json = json;
    }

    private static ObjectNode base(String op, String table) {
        ObjectNode o = N.objectNode().put("op", op);
        if (table != null) {
            o.put("table", table);
        }
        return o;
    }

    private static ArrayNode columns(String... columns) {
        ArrayNode cols = N.arrayNode();
        for (String c : columns) {
            cols.add(c);
        }
        return cols;
    }

    /** The given columns of the rows matching {@code where}; its result has {@link OpResult#rows()}. */
    public static Op select(String table, Where where, String... columns) {
        ObjectNode o = base("select", table);
        o.set("where", where.json());
        o.set("columns", columns(columns));
        return new Op("select", table, o);
    }

    /**
     * Inserts a row; {@code uuidName} (may be null) names it for references later in the same transaction
     * ({@link Datum#namedUuid}). Its result has {@link OpResult#uuid()}.
     */
    public static Op insert(String table, Row row, String uuidName) {
        ObjectNode o = base("insert", table);
        o.set("row", row.json());
        if (uuidName != null) {
            o.put("uuid-name", uuidName);
        }
        return new Op("insert", table, o);
    }

    /** Sets the given columns of the matching rows; its result has {@link OpResult#count()}. */
    public static Op update(String table, Where where, Row row) {
        ObjectNode o = base("update", table);
        o.set("where", where.json());
        o.set("row", row.json());
        return new Op("update", table, o);
    }

    /** Mutates set/map/integer columns of the matching rows relative to their value; result has a count. */
    public static Op mutate(String table, Where where, List<Mutation> mutations) {
        ObjectNode o = base("mutate", table);
        o.set("where", where.json());
        ArrayNode ms = N.arrayNode();
        mutations.forEach(m -> ms.add(m.json()));
        o.set("mutations", ms);
        return new Op("mutate", table, o);
    }

    public static Op mutate(String table, Where where, Mutation... mutations) {
        return mutate(table, where, List.of(mutations));
    }

    /** Deletes the matching rows (of a root table; other rows go when nothing refers to them any more). */
    public static Op delete(String table, Where where) {
        ObjectNode o = base("delete", table);
        o.set("where", where.json());
        return new Op("delete", table, o);
    }

    /**
     * Blocks the transaction (server side, no polling) until the matching rows' {@code columns} are
     * {@link Until#EQUAL equal} / {@link Until#NOT_EQUAL not equal} to {@code rows}, or fails it after
     * {@code timeout}. A zero timeout makes it a guard: the transaction fails at once when the condition does not hold.
     */
    public static Op waitUntil(String table, Where where, Until until, List<Row> rows, Duration timeout, String... columns) {
        ObjectNode o = base("wait", table);
        o.put("timeout", timeout.toMillis());
        o.set("where", where.json());
        o.set("columns", columns(columns));
        o.put("until", until.wire);
        ArrayNode rs = N.arrayNode();
        rows.forEach(r -> rs.add(r.json()));
        o.set("rows", rs);
        return new Op("wait", table, o);
    }

    /** Fails the transaction at once unless a row matches {@code where} (a guard; no columns are compared). */
    public static Op requireRow(String table, Where where) {
        return waitUntil(table, where, Until.NOT_EQUAL, List.of(), Duration.ZERO, "_uuid");
    }

    /** Fails the transaction at once when a row matches {@code where}. */
    public static Op requireNoRow(String table, Where where) {
        return waitUntil(table, where, Until.EQUAL, List.of(), Duration.ZERO, "_uuid");
    }

    /** A comment recorded in ovsdb-server's log with the transaction. */
    public static Op comment(String text) {
        ObjectNode o = base("comment", null);
        o.put("comment", text);
        return new Op("comment", null, o);
    }

    /** Whether the server may change the database for this operation (what cannot be resent blindly). */
    public boolean mutating() {
        return switch (op) {
            case "insert", "update", "mutate", "delete" -> true;
            default -> false;
        };
    }

    /** For error messages: e.g. {@code mutate Bridge}. */
    public String describe() {
        return table == null ? op : op + " " + table;
    }

    /** Whether this is a {@code wait} whose failure reads "timed out" (a guard that did not hold). */
    boolean isWait() {
        return op.equals("wait");
    }

    /** The server-side wait time of a {@code wait}, zero for other operations. */
    Duration waitTimeout() {
        return isWait() ? Duration.ofMillis(json.path("timeout").asLong()) : Duration.ZERO;
    }

    ObjectNode json() {
        return json.deepCopy();
    }

    @Override
    public String toString() {
        return json.toString();
    }
}
