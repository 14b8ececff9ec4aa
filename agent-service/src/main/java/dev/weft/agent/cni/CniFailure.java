package dev.weft.agent.cni;

import dev.weft.proto.cni.v1.ErrorCode;

/** A CNI operation failed with a spec (or plugin-specific) error code; the message is what the kubelet logs. */
public class CniFailure extends Exception {
    private final ErrorCode code;
    private final String details;

    public CniFailure(ErrorCode code, String message, String details) {
        super(message);
        this.code = code;
        this.details = details == null ? "" : details;
    }

    public CniFailure(ErrorCode code, String message) {
        this(code, message, "");
    }

    public ErrorCode code() {
        return code;
    }

    public String details() {
        return details;
    }
}
