package dev.weft.localcluster;

/** A mistake of the user (bad arguments, bad manifest, no cluster): printed without a stack trace, exit code 2. */
final class UserError extends RuntimeException {
    UserError(String message) {
        super(message);
    }
}
