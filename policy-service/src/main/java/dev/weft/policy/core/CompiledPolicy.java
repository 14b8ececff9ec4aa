package dev.weft.policy.core;

import java.util.List;

/**
 * A validated Kubernetes NetworkPolicy in internal form: groups by key (resolved to shared groups by the engine),
 * IP blocks normalised, ports validated. Immutable.
 */
public record CompiledPolicy(
        String namespace,
        String name,
        String uid,
        long generation,
        GroupKey appliedTo,
        List<Rule> rules,
        boolean ingressIsolated,
        boolean egressIsolated,
        boolean logDenied) {

    /** The annotation that asks agents to log the connections this policy's isolation denies (value "true"). */
    public static final String LOG_ANNOTATION = "weft.dev/log";

    public enum Direction { IN, OUT }

    public enum Protocol { TCP, UDP, SCTP }

    /** {@code cidr} and {@code except} in canonical network form (host bits cleared). */
    public record IpBlock(String cidr, List<String> except) {
    }

    /**
     * One port clause: a protocol with either no port (every port of the protocol), a port number (with an optional
     * inclusive {@code endPort}, 0 = single port) or a named container port.
     */
    public record Port(Protocol protocol, int number, String name, int endPort) {

        public static Port all(Protocol p) {
            return new Port(p, 0, null, 0);
        }
    }

    /**
     * One rule. {@code anyPeer}: the rule has no from/to (every address). Otherwise the peers are the union of the
     * groups and IP blocks (a selector that selects no pods is a group with no members: it matches nothing).
     * Empty {@code ports}: every port and protocol.
     */
    public record Rule(Direction direction, int index, boolean anyPeer, List<GroupKey> peerGroups,
                       List<IpBlock> ipBlocks, List<Port> ports) {
    }

    /** Distinct peer group keys over all rules, in rule order. */
    public List<GroupKey> addressGroupKeys() {
        if (rules.isEmpty()) {
            return List.of();
        }
        if (rules.size() == 1) {
            return rules.getFirst().peerGroups();
        }
        java.util.ArrayList<GroupKey> out = new java.util.ArrayList<>();
        for (Rule r : rules) {
            for (GroupKey k : r.peerGroups()) {
                if (!out.contains(k)) {
                    out.add(k);
                }
            }
        }
        return List.copyOf(out);
    }
}
