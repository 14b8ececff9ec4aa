package dev.weft.agent.ovsdb;

/**
 * ovsdb-server refused a transaction: one operation (or the commit) failed and nothing was applied.
 * {@link #operationIndex()} says which, so a caller can tell its guards apart ({@code wait} with timeout 0 fails
 * with error "timed out" when its condition does not hold).
 */
public final class TransactionFailed extends OvsdbException {

    private final int operationIndex;
    private final String error;

    TransactionFailed(String message, int operationIndex, String error) {
        super(message);
        this.operationIndex = operationIndex;
        this.error = error;
    }

    /** Index of the failed operation in the transaction; the number of operations when the commit failed. */
    public int operationIndex() {
        return operationIndex;
    }

    /** RFC 7047's error string, e.g. "timed out", "constraint violation", "referential integrity violation". */
    public String error() {
        return error;
    }

    /** A failed guard: a {@code wait} whose condition did not hold. */
    public boolean isTimedOutWait(int index) {
        return operationIndex == index && "timed out".equals(error);
    }
}
