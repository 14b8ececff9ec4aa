package dev.weft.policy.core;

/** A NetworkPolicy that cannot be computed (bad CIDR, except outside its CIDR, unknown protocol, ...). */
public class InvalidPolicyException extends RuntimeException {
    public InvalidPolicyException(String message) {
        super(message, null, false, false);
    }
}
