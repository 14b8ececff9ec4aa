package dev.weft.agent.ovsdb;

import com.fasterxml.jackson.databind.JsonNode;

import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;

/**
 * One row of a select, with typed column access (RFC 7047 §5.1 notation decoded). Optional columns ({@code [0..1]})
 * are sets of zero or one atom on the wire: the accessors turn the empty set into "" / 0. A value of the wrong shape
 * is an {@link OvsdbException} naming the column, not a silently wrong default.
 */
public final class ResultRow {

    private final String source;
    private final JsonNode row;

    ResultRow(String source, JsonNode row) {
        this.source = source;
        this.row = row;
    }

    public boolean has(String column) {
        return row.has(column);
    }

    /** The row's own {@code _uuid}. */
    public String uuid() throws OvsdbException {
        return uuidAtom(source, "_uuid", column("_uuid"));
    }

    /** A string column. */
    public String string(String column) throws OvsdbException {
        JsonNode n = column(column);
        if (!n.isTextual()) {
            throw wrong(column, "a string", n);
        }
        return n.asText();
    }

    /** An optional string column: the string, or "" for the empty set. */
    public String optionalString(String column) throws OvsdbException {
        JsonNode n = column(column);
        if (n.isTextual()) {
            return n.asText();
        }
        JsonNode atoms = setAtoms(column, n);
        if (atoms.isEmpty()) {
            return "";
        }
        if (atoms.size() != 1 || !atoms.get(0).isTextual()) {
            throw wrong(column, "an optional string", n);
        }
        return atoms.get(0).asText();
    }

    /** An optional integer column: the number, or 0 for the empty set. */
    public long optionalLong(String column) throws OvsdbException {
        JsonNode n = column(column);
        if (n.isIntegralNumber()) {
            return n.asLong();
        }
        JsonNode atoms = setAtoms(column, n);
        if (atoms.isEmpty()) {
            return 0;
        }
        if (atoms.size() != 1 || !atoms.get(0).isIntegralNumber()) {
            throw wrong(column, "an optional integer", n);
        }
        return atoms.get(0).asLong();
    }

    public int optionalInt(String column) throws OvsdbException {
        long v = optionalLong(column);
        if (v < Integer.MIN_VALUE || v > Integer.MAX_VALUE) {
            throw wrong(column, "an int", column(column));
        }
        return (int) v;
    }

    /** A set of strings (a single atom is a set of one). */
    public List<String> strings(String column) throws OvsdbException {
        JsonNode n = column(column);
        List<String> out = new ArrayList<>();
        if (n.isTextual()) {
            out.add(n.asText());
            return out;
        }
        for (JsonNode a : setAtoms(column, n)) {
            if (!a.isTextual()) {
                throw wrong(column, "a set of strings", n);
            }
            out.add(a.asText());
        }
        return out;
    }

    /** A set of row references: the UUIDs (a single {@code ["uuid", U]} is a set of one). */
    public List<String> uuids(String column) throws OvsdbException {
        JsonNode n = column(column);
        List<String> out = new ArrayList<>();
        if (n.isArray() && n.size() == 2 && "uuid".equals(n.get(0).asText())) {
            out.add(uuidAtom(source, column, n));
            return out;
        }
        for (JsonNode a : setAtoms(column, n)) {
            out.add(uuidAtom(source, column, a));
        }
        return out;
    }

    /** A string-to-string map column. */
    public Map<String, String> map(String column) throws OvsdbException {
        JsonNode n = column(column);
        if (!n.isArray() || n.size() != 2 || !"map".equals(n.get(0).asText()) || !n.get(1).isArray()) {
            throw wrong(column, "a map", n);
        }
        Map<String, String> m = new LinkedHashMap<>();
        for (JsonNode pair : n.get(1)) {
            if (!pair.isArray() || pair.size() != 2 || !pair.get(0).isTextual() || !pair.get(1).isTextual()) {
                throw wrong(column, "a map of strings", n);
            }
            m.put(pair.get(0).asText(), pair.get(1).asText());
        }
        return m;
    }

    private JsonNode column(String column) throws OvsdbException {
        JsonNode n = row.get(column);
        if (n == null) {
            throw new OvsdbException("OVSDB " + source + ": column " + column + " missing from the reply: "
                    + OpResult.abbreviate(row));
        }
        return n;
    }

    private JsonNode setAtoms(String column, JsonNode n) throws OvsdbException {
        if (!n.isArray() || n.size() != 2 || !"set".equals(n.get(0).asText()) || !n.get(1).isArray()) {
            throw wrong(column, "a set", n);
        }
        return n.get(1);
    }

    private OvsdbException wrong(String column, String expected, JsonNode n) {
        return new OvsdbException("OVSDB " + source + ": column " + column + " is not " + expected + ": "
                + OpResult.abbreviate(n));
    }

    static String uuidAtom(String source, String column, JsonNode n) throws OvsdbException {
        if (n == null || !n.isArray() || n.size() != 2 || !"uuid".equals(n.get(0).asText()) || !n.get(1).isTextual()) {
            throw new OvsdbException("OVSDB " + source + ": " + column + " is not a uuid: " + OpResult.abbreviate(n));
        }
        return n.get(1).asText();
    }

    @Override
    public String toString() {
        return OpResult.abbreviate(row);
    }
}
