package dev.weft.ipam;

import dev.weft.proto.ipam.v1.IpFamily;

/** IP family of an address, CIDR or pool; ordered as Kubernetes orders spec.podCIDRs (IPv4 first). */
public enum Family {
    IPV4(32, "IPv4"),
    IPV6(128, "IPv6");

    private final int bits;
    private final String label;

    Family(int bits, String label) {
        this.bits = bits;
        this.label = label;
    }

    /** Address width in bits. */
    public int bits() {
        return bits;
    }

    public IpFamily toProto() {
        return this == IPV4 ? IpFamily.IPV4 : IpFamily.IPV6;
    }

    /** null for IP_FAMILY_UNSPECIFIED (meaning: every family). */
    public static Family fromProto(IpFamily family) {
        return switch (family) {
            case IPV4 -> IPV4;
            case IPV6 -> IPV6;
            default -> null;
        };
    }

    @Override
    public String toString() {
        return label;
    }
}
