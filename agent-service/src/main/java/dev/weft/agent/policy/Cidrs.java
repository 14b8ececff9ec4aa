package dev.weft.agent.policy;

import dev.weft.agent.openflow.Match;

import java.util.ArrayList;
import java.util.List;

/** IPv4 CIDR and port-range arithmetic for policy translation. */
public final class Cidrs {

    private Cidrs() {
    }

    public record V4(long base, int prefix) {
        public static V4 parse(String cidr) {
            String s = cidr.trim();
            int slash = s.indexOf('/');
            long ip = Match.parseIpv4(slash < 0 ? s : s.substring(0, slash));
            int prefix = slash < 0 ? 32 : Integer.parseInt(s.substring(slash + 1));
            long mask = Match.prefixMask(prefix);
            return new V4(ip & mask, prefix);
        }

        long size() {
            return 1L << (32 - prefix);
        }

        boolean contains(V4 o) {
            return o.prefix >= prefix && (o.base & Match.prefixMask(prefix)) == base;
        }

        boolean overlaps(V4 o) {
            return contains(o) || o.contains(this);
        }

        @Override
        public String toString() {
            return Match.ipv4(base) + "/" + prefix;
        }

        /** Without "/32" for a host, as a match value. */
        public String matchValue() {
            return prefix == 32 ? Match.ipv4(base) : toString();
        }
    }

    public static boolean isV6(String s) {
        return s.contains(":");
    }

    /** {@code cidr} minus every {@code except}, as the fewest CIDRs (the ipBlock semantics). */
    public static List<V4> subtract(V4 cidr, List<V4> excepts) {
        List<V4> out = new ArrayList<>();
        subtract(cidr, excepts, out);
        return out;
    }

    private static void subtract(V4 c, List<V4> excepts, List<V4> out) {
        boolean overlap = false;
        for (V4 e : excepts) {
            if (e.contains(c)) {
                return;
            }
            if (c.overlaps(e)) {
                overlap = true;
            }
        }
        if (!overlap) {
            out.add(c);
            return;
        }
        V4 lo = new V4(c.base, c.prefix + 1);
        V4 hi = new V4(c.base | (1L << (31 - c.prefix)), c.prefix + 1);
        subtract(lo, excepts, out);
        subtract(hi, excepts, out);
    }

    public record PortMask(int value, int mask) {
    }

    /** The fewest value/mask pairs covering [from, to] (inclusive). */
    public static List<PortMask> portRange(int from, int to) {
        if (from < 0 || to > 0xffff || from > to) {
            throw new IllegalArgumentException("bad port range " + from + "-" + to);
        }
        List<PortMask> out = new ArrayList<>();
        int start = from;
        while (start <= to) {
            int size = 1;
            while ((start & (size * 2 - 1)) == 0 && start + size * 2 - 1 <= to && size < 0x10000) {
                size *= 2;
            }
            out.add(new PortMask(start, 0xffff & ~(size - 1)));
            start += size;
        }
        return out;
    }
}
