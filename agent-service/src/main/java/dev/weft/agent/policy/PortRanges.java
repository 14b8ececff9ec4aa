package dev.weft.agent.policy;

import java.util.ArrayList;
import java.util.List;

/** Port-range arithmetic for policy translation: an endPort range as the value/mask pairs OpenFlow matches. */
public final class PortRanges {

    private PortRanges() {
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
