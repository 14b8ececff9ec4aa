package dev.weft.net;

/** The family of an address or prefix; ordered as Kubernetes orders dual-stack lists (IPv4 first). */
public enum AddressFamily {
    IPV4(32, "IPv4"),
    IPV6(128, "IPv6");

    private final int bits;
    private final String label;

    AddressFamily(int bits, String label) {
        this.bits = bits;
        this.label = label;
    }

    /** Address width in bits: 32 or 128. */
    public int bits() {
        return bits;
    }

    /** Address width in bytes: 4 or 16. */
    public int bytes() {
        return bits / 8;
    }

    /** "IPv4" or "IPv6", as messages and documents write it. */
    @Override
    public String toString() {
        return label;
    }
}
