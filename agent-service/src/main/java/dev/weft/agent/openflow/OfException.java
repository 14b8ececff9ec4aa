package dev.weft.agent.openflow;

/** The switch refused something (with the offending flows named) or the connection is not there. */
public class OfException extends RuntimeException {
    public OfException(String message) {
        super(message);
    }
}
