package dev.weft.agent.pipeline;

import java.util.List;
import java.util.Locale;
import java.util.Optional;

/**
 * The pipeline's tables, as in the Antrea walkthrough's {@code antctl get ovsflows -h}. Each knows what happens to a packet no flow
 * matches: dropped, or handed to the next stage.
 */
public enum PipelineTable {
    CLASSIFICATION(0, "Classification", -1),
    SPOOF_GUARD(10, "SpoofGuard", -1),
    ARP_RESPONDER(20, "ARPResponder", -1),
    CONNTRACK_ZONE(30, "ConntrackZone", 31),
    CONNTRACK_STATE(31, "ConntrackState", 40),
    DNAT(40, "DNAT", 50),
    /**
     * Flows Open vSwitch learned for Services with {@code sessionAffinity: ClientIP}; looked up (resubmit) from DNAT for
     * those Services only. A miss leaves the registers as they were (the group chooses).
     */
    SESSION_AFFINITY(41, "SessionAffinity", -1),
    ENDPOINT_DNAT(42, "EndpointDNAT", -1),
    SERVICE_HAIRPIN(43, "ServiceHairpin", 50),
    EGRESS_RULE(50, "EgressRule", 60),
    EGRESS_DEFAULT_RULE(60, "EgressDefaultRule", 70),
    L3_FORWARDING(70, "L3Forwarding", 80),
    L2_FORWARDING(80, "L2Forwarding", -1),
    INGRESS_RULE(90, "IngressRule", 100),
    INGRESS_DEFAULT_RULE(100, "IngressDefaultRule", 105),
    CONNTRACK_COMMIT(105, "ConntrackCommit", 110),
    OUTPUT(110, "Output", -1);

    public final int id;
    public final String displayName;
    /** Table a missed packet is resubmitted to, or -1 to drop it. */
    public final int missNext;

    PipelineTable(int id, String displayName, int missNext) {
        this.id = id;
        this.displayName = displayName;
        this.missNext = missNext;
    }

    public String missAction() {
        return missNext < 0 ? "drop" : "resubmit(," + missNext + ")";
    }

    public static List<PipelineTable> ordered() {
        return List.of(values());
    }

    public static Optional<PipelineTable> byId(int id) {
        for (PipelineTable t : values()) {
            if (t.id == id) {
                return Optional.of(t);
            }
        }
        return Optional.empty();
    }

    /** A table by name ({@code IngressRule}, case-insensitive) or number ({@code 90}). */
    public static Optional<PipelineTable> parse(String nameOrId) {
        String s = nameOrId.trim();
        if (s.chars().allMatch(Character::isDigit) && !s.isEmpty()) {
            return byId(Integer.parseInt(s));
        }
        for (PipelineTable t : values()) {
            if (t.displayName.toLowerCase(Locale.ROOT).equals(s.toLowerCase(Locale.ROOT))
                    || t.name().equalsIgnoreCase(s)) {
                return Optional.of(t);
            }
        }
        return Optional.empty();
    }

    public static String nameOf(int id) {
        return byId(id).map(t -> t.displayName).orElse("table" + id);
    }
}
