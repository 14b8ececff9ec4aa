package dev.weft.agent.ovsdb;

import com.fasterxml.jackson.databind.JsonNode;

import java.util.ArrayList;
import java.util.List;

/**
 * The result of one operation of a successful transaction. Accessors check the shape the RFC promises and fail
 * with an {@link OvsdbException} naming the operation, so a server answering nonsense never surfaces as a
 * NullPointerException or ClassCastException in the caller.
 */
public final class OpResult {

    private final Op op;
    private final JsonNode json;

    OpResult(Op op, JsonNode json) {
        this.op = op;
        this.json = json;
    }

    /** Rows of a select. */
    public List<ResultRow> rows() throws OvsdbException {
        JsonNode rows = json.get("rows");
        if (rows == null || !rows.isArray()) {
            throw malformed("no rows array");
        }
        List<ResultRow> out = new ArrayList<>(rows.size());
        for (JsonNode r : rows) {
            if (!r.isObject()) {
                throw malformed("a row that is not an object: " + abbreviate(r));
            }
            out.add(new ResultRow(op.describe(), r));
        }
        return out;
    }

    /** The single row of a select by a unique column, if any. */
    public java.util.Optional<ResultRow> firstRow() throws OvsdbException {
        List<ResultRow> rows = rows();
        return rows.isEmpty() ? java.util.Optional.empty() : java.util.Optional.of(rows.get(0));
    }

    /** Rows matched by an update, mutate or delete. */
    public int count() throws OvsdbException {
        JsonNode c = json.get("count");
        if (c == null || !c.canConvertToInt() || c.asInt() < 0) {
            throw malformed("no count");
        }
        return c.asInt();
    }

    /** The UUID of the row an insert created. */
    public String uuid() throws OvsdbException {
        return ResultRow.uuidAtom(op.describe(), "uuid", json.get("uuid"));
    }

    private OvsdbException malformed(String what) {
        return new OvsdbException("OVSDB " + op.describe() + ": malformed result (" + what + "): " + abbreviate(json));
    }

    static String abbreviate(JsonNode n) {
        String s = String.valueOf(n);
        return s.length() > 200 ? s.substring(0, 200) + "..." : s;
    }

    @Override
    public String toString() {
        return op.describe() + " -> " + abbreviate(json);
    }
}
