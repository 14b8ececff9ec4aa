package dev.weft.agent.ipam;

/** Allocation failed: the CIDR is exhausted, or not known yet, or the lease file could not be written. */
public class IpamException extends Exception {
    public enum Reason { EXHAUSTED, NOT_READY, IO }

    private final Reason reason;

    public IpamException(Reason reason, String message, Throwable cause) {
        super(message, cause);
        this.reason = reason;
    }

    public Reason reason() {
        return reason;
    }
}
