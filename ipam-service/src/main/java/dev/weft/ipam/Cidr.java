package dev.weft.ipam;

import java.math.BigInteger;
import java.util.Objects;

/**
 * A canonical CIDR block: a network address with every host bit zero and a prefix length. Parsing rejects
 * host bits set ("10.0.0.1/24") rather than silently masking them, because a typo in a pool or a Node's
 * podCIDR must not turn into a different block.
 */
public record Cidr(Family family, BigInteger network, int prefixLength) implements Comparable<Cidr> {

    public Cidr {
        Objects.requireNonNull(family, "family");
        Objects.requireNonNull(network, "network");
        if (prefixLength < 0 || prefixLength > family.bits()) {
            throw new IllegalArgumentException("prefix length /" + prefixLength + " is out of range for " + family
                    + " (0-" + family.bits() + ")");
        }
        if (network.signum() < 0 || network.bitLength() > family.bits()) {
            throw new IllegalArgumentException(network + " is not a " + family + " address value");
        }
        if (network.and(hostMask(family, prefixLength)).signum() != 0) {
            Cidr masked = of(new IpAddress(family, network), prefixLength);
            throw new IllegalArgumentException(IpAddress.format(family, network) + "/" + prefixLength
                    + " has host bits set (did you mean " + masked + "?)");
        }
    }

    /** Parses "address/prefix"; IllegalArgumentException with a message that quotes the input. */
    public static Cidr parse(String text) {
        if (text == null || text.isBlank()) {
            throw new IllegalArgumentException("empty CIDR");
        }
        String t = text.strip();
        int slash = t.indexOf('/');
        if (slash < 0 || slash != t.lastIndexOf('/')) {
            throw new IllegalArgumentException("'" + text + "' is not a CIDR: expected address/prefix-length");
        }
        IpAddress address;
        try {
            address = IpAddress.parse(t.substring(0, slash));
        } catch (IllegalArgumentException e) {
            throw new IllegalArgumentException("'" + text + "' is not a CIDR: " + e.getMessage());
        }
        String p = t.substring(slash + 1);
        int prefix;
        if (p.isEmpty() || p.length() > 3 || !p.chars().allMatch(Character::isDigit)) {
            throw new IllegalArgumentException("'" + text + "' is not a CIDR: prefix length '" + p + "' is not a number");
        }
        prefix = Integer.parseInt(p);
        if (prefix > address.family().bits()) {
            throw new IllegalArgumentException("'" + text + "' is not a CIDR: prefix length /" + prefix
                    + " is out of range for " + address.family() + " (0-" + address.family().bits() + ")");
        }
        return new Cidr(address.family(), address.value(), prefix);
    }

    /** The block of the given prefix length that contains the address (host bits cleared). */
    public static Cidr of(IpAddress address, int prefixLength) {
        Family f = address.family();
        if (prefixLength < 0 || prefixLength > f.bits()) {
            throw new IllegalArgumentException("prefix length /" + prefixLength + " is out of range for " + f);
        }
        return new Cidr(f, address.value().andNot(hostMask(f, prefixLength)), prefixLength);
    }

    /** Host-bit masks by number of host bits (0-128), computed once: lookups and allocation use them constantly. */
    private static final BigInteger[] HOST_MASKS = new BigInteger[129];

    static {
        for (int i = 0; i < HOST_MASKS.length; i++) {
            HOST_MASKS[i] = BigInteger.ONE.shiftLeft(i).subtract(BigInteger.ONE);
        }
    }

    static BigInteger hostMask(Family family, int prefixLength) {
        return HOST_MASKS[family.bits() - prefixLength];
    }

    /** Number of addresses. */
    public BigInteger size() {
        return BigInteger.ONE.shiftLeft(family.bits() - prefixLength);
    }

    public IpAddress first() {
        return new IpAddress(family, network);
    }

    public IpAddress last() {
        return new IpAddress(family, lastValue());
    }

    BigInteger lastValue() {
        return network.or(hostMask(family, prefixLength));
    }

    public boolean contains(IpAddress address) {
        return address.family() == family
                && address.value().andNot(hostMask(family, prefixLength)).equals(network);
    }

    /** True if every address of {@code other} is in this block. */
    public boolean contains(Cidr other) {
        return other.family == family && other.prefixLength >= prefixLength && contains(other.first());
    }

    /** Two aligned blocks overlap exactly when one contains the other. */
    public boolean overlaps(Cidr other) {
        return contains(other) || other.contains(this);
    }

    @Override
    public int compareTo(Cidr o) {
        int c = family.compareTo(o.family);
        if (c != 0) {
            return c;
        }
        c = network.compareTo(o.network);
        return c != 0 ? c : Integer.compare(prefixLength, o.prefixLength);
    }

    /** Canonical text, e.g. "10.10.1.0/24" or "fd00:10:244:1::/64". */
    @Override
    public String toString() {
        return IpAddress.format(family, network) + "/" + prefixLength;
    }
}
