package dev.weft.security.auth;

import io.grpc.Status;

/**
 * Why a call is not answered. {@code reason} is the counter's label (a small fixed set); {@code message} is what the
 * caller reads, saying what was wrong without echoing the token.
 */
public record Refusal(Reason reason, String message) {

    /** The label values of {@code weft_<service>_auth_refused_total}, each with the gRPC status it answers. */
    public enum Reason {
        /** No {@code authorization: Bearer} header. */
        MISSING(Status.Code.UNAUTHENTICATED),
        /** Not a JWT whose claims can be read. */
        MALFORMED(Status.Code.UNAUTHENTICATED),
        /** Its {@code exp} has passed. */
        EXPIRED(Status.Code.UNAUTHENTICATED),
        /** Issued for another audience than this control plane's. */
        AUDIENCE(Status.Code.UNAUTHENTICATED),
        /** The API server's TokenReview did not authenticate it (forged, revoked, unknown issuer). */
        REJECTED(Status.Code.UNAUTHENTICATED),
        /** Authenticated, but not a ServiceAccount token bound to a pod. */
        NOT_POD_BOUND(Status.Code.UNAUTHENTICATED),
        /** The pod it was bound to is gone, was replaced, or is not on the node the token names. */
        POD(Status.Code.UNAUTHENTICATED),
        /** A ServiceAccount this method does not serve. */
        SERVICE_ACCOUNT(Status.Code.PERMISSION_DENIED),
        /** An agent asking for another node's data or speaking for another node. */
        NODE(Status.Code.PERMISSION_DENIED),
        /** A method (or a use of it) this port does not serve to the caller (the agent's peer port: Traceflow phases). */
        METHOD(Status.Code.PERMISSION_DENIED),
        /** The TokenReview could not be made (API server unreachable); the caller retries. */
        REVIEW_UNAVAILABLE(Status.Code.UNAVAILABLE),
        /** Too many TokenReviews in flight: new unknown tokens wait for a retry instead of loading the API server. */
        OVERLOADED(Status.Code.UNAVAILABLE);

        private final Status.Code code;

        Reason(Status.Code code) {
            this.code = code;
        }

        public Status.Code code() {
            return code;
        }

        /** The metric label: {@code not_pod_bound}, {@code service_account}, ... */
        public String label() {
            return name().toLowerCase(java.util.Locale.ROOT);
        }
    }

    public Status status() {
        return Status.fromCode(reason.code()).withDescription(message);
    }
}
