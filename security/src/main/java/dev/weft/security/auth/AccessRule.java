package dev.weft.security.auth;

import java.util.Set;

/**
 * Who may call one gRPC method. {@code anyNode}: ServiceAccounts ({@code namespace:name}, or {@link #ANY} for every
 * authenticated caller) answered whatever the request asks for. {@code ownNode}: ServiceAccounts answered only when
 * the request's {@code nodeField} names the node the caller's pod runs on (an agent watching or reporting for its
 * own node). A ServiceAccount in neither is refused.
 */
public record AccessRule(Set<String> anyNode, Set<String> ownNode, String nodeField) {

    public static final String ANY = "*";

    public AccessRule {
        anyNode = Set.copyOf(anyNode);
        ownNode = Set.copyOf(ownNode);
        if (!ownNode.isEmpty() && nodeField.isEmpty()) {
            throw new IllegalArgumentException("a node-scoped rule needs the request field that names the node");
        }
    }

    /** Every authenticated caller. */
    public static AccessRule anyCaller() {
        return new AccessRule(Set.of(ANY), Set.of(), "");
    }

    /** What this rule asks of a caller. */
    public sealed interface Decision {
        record Allow() implements Decision {
        }

        /** Allowed if the request's node field equals the caller's node. */
        record OwnNodeOnly(String nodeField, String callerNode) implements Decision {
        }

        record Deny(Refusal refusal) implements Decision {
        }
    }

    public Decision decide(CallerIdentity caller, String method) {
        String sa = caller.serviceAccountRef();
        if (anyNode.contains(ANY) || anyNode.contains(sa)) {
            return new Decision.Allow();
        }
        if (ownNode.contains(sa)) {
            if (caller.nodeName().isEmpty()) {
                return new Decision.Deny(new Refusal(Refusal.Reason.NODE, caller + " has no node; " + method
                        + " answers agents for their own node only"));
            }
            return new Decision.OwnNodeOnly(nodeField, caller.nodeName());
        }
        return new Decision.Deny(new Refusal(Refusal.Reason.SERVICE_ACCOUNT, method + " does not answer " + caller
                + "; it answers " + String.join(", ", describe())));
    }

    private java.util.List<String> describe() {
        java.util.List<String> out = new java.util.ArrayList<>();
        anyNode.stream().sorted().forEach(out::add);
        ownNode.stream().sorted().map(s -> s + " (own node only)").forEach(out::add);
        return out;
    }
}
