package dev.weft.security.auth;

/** The outcome of verifying one token: the caller it identifies, or why it identifies nobody. */
public sealed interface Verdict {

    record Authenticated(CallerIdentity caller) implements Verdict {
    }

    record Refused(Refusal refusal) implements Verdict {
    }

    static Verdict refused(Refusal.Reason reason, String message) {
        return new Refused(new Refusal(reason, message));
    }
}
