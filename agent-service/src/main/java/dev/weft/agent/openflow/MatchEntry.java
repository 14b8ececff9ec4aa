package dev.weft.agent.openflow;

/** One field of a match: a value and an optional mask (all our fields fit in 64 bits). */
public record MatchEntry(OfField field, long value, long mask, boolean masked) implements Comparable<MatchEntry> {

    public static MatchEntry exact(OfField field, long value) {
        return new MatchEntry(field, value, 0, false);
    }

    public static MatchEntry masked(OfField field, long value, long mask) {
        long full = field.length() == 8 ? -1L : (1L << (field.length() * 8)) - 1;
        if ((mask & full) == full) {
            return exact(field, value);
        }
        return new MatchEntry(field, value & mask, mask, true);
    }

    @Override
    public int compareTo(MatchEntry o) {
        // fields of one rank (ip_dscp before nw_proto) in the order of their headers, as Open vSwitch emits them
        int c = Integer.compare(field.rank, o.field.rank);
        return c != 0 ? c : Integer.compareUnsigned(field.header, o.field.header);
    }
}
