package dev.weft.net;

import java.math.BigInteger;
import java.util.ArrayList;
import java.util.Collection;
import java.util.List;
import java.util.Objects;

/**
 * A CIDR block: a network address with every host bit zero, and a prefix length. A block is the set of addresses
 * that share its first {@code prefixLength} bits, so two blocks either nest or are disjoint.
 *
 * <p>{@link #parse} treats host bits set ("10.0.0.1/24") as an error rather than silently masking them: a typo in
 * a pool or a Node's podCIDR must not turn into a different block. Where an input is allowed to carry host bits
 * (a NetworkPolicy ipBlock, as Kubernetes accepts it), {@link #parseContaining} says so explicitly.
 */
public record IpPrefix(IpAddress network, int prefixLength) implements Comparable<IpPrefix> {

    /** {@link #split} returns at most 2^16 blocks; {@link #subnet} reaches any single one. */
    public static final int MAX_SPLIT_BITS = 16;

    public IpPrefix {
        Objects.requireNonNull(network, "network");
        AddressFamily f = network.family();
        checkLength(f, prefixLength);
        int h = f.bits() - prefixLength;
        if ((network.high() & maskHigh(h)) != 0 || (network.low() & maskLow(h)) != 0) {
            throw new IllegalArgumentException(network + "/" + prefixLength + " has host bits set (did you mean "
                    + containing(network, prefixLength) + "?)");
        }
    }

    /** Parses "address/length" strictly: host bits set are an error. */
    public static IpPrefix parse(String text) {
        return Literals.prefix(text, false);
    }

    /** Parses "address/length" and clears host bits: "10.1.2.3/16" is 10.1.0.0/16. Every other rule is strict. */
    public static IpPrefix parseContaining(String text) {
        return Literals.prefix(text, true);
    }

    /** The block of the given length that contains the address. */
    public static IpPrefix containing(IpAddress address, int prefixLength) {
        checkLength(address.family(), prefixLength);
        int h = address.family().bits() - prefixLength;
        return new IpPrefix(new IpAddress(address.family(), address.high() & ~maskHigh(h), address.low() & ~maskLow(h)),
                prefixLength);
    }

    private static void checkLength(AddressFamily f, int prefixLength) {
        if (prefixLength < 0 || prefixLength > f.bits()) {
            throw new IllegalArgumentException("prefix length /" + prefixLength + " is out of range for " + f
                    + " (0-" + f.bits() + ")");
        }
    }

    /** Upper 64 bits of the mask of the lowest {@code hostBits} bits. */
    private static long maskHigh(int hostBits) {
        return hostBits <= 64 ? 0 : hostBits >= 128 ? -1L : (1L << (hostBits - 64)) - 1;
    }

    private static long maskLow(int hostBits) {
        return hostBits >= 64 ? -1L : (1L << hostBits) - 1;
    }

    public AddressFamily family() {
        return network.family();
    }

    /** Bits that vary inside the block: 32 - length or 128 - length. */
    public int hostBits() {
        return family().bits() - prefixLength;
    }

    /** Number of addresses. */
    public BigInteger size() {
        return BigInteger.ONE.shiftLeft(hostBits());
    }

    public IpAddress first() {
        return network;
    }

    public IpAddress last() {
        int h = hostBits();
        return new IpAddress(family(), network.high() | maskHigh(h), network.low() | maskLow(h));
    }

    public boolean contains(IpAddress address) {
        int h = hostBits();
        return address.family() == family()
                && (address.high() & ~maskHigh(h)) == network.high() && (address.low() & ~maskLow(h)) == network.low();
    }

    /** True if every address of {@code other} is in this block (a block contains itself). */
    public boolean contains(IpPrefix other) {
        return other.prefixLength >= prefixLength && contains(other.network);
    }

    /** Two blocks overlap exactly when one contains the other. */
    public boolean overlaps(IpPrefix other) {
        return contains(other) || other.contains(this);
    }

    /** The address {@code index} places after the network address (0 is the network address itself). */
    public IpAddress address(long index) {
        int h = hostBits();
        if (index < 0 || (h < 63 && index >= 1L << h)) {
            throw new IndexOutOfBoundsException("address " + index + " of " + this + ": it has " + size() + " addresses");
        }
        return new IpAddress(family(), network.high(), network.low() | index);
    }

    /** As {@link #address(long)}, for blocks larger than 2^63. */
    public IpAddress address(BigInteger index) {
        if (index.signum() < 0 || index.bitLength() > hostBits()) {
            throw new IndexOutOfBoundsException("address " + index + " of " + this + ": it has " + size() + " addresses");
        }
        return IpAddress.of(family(), network.toBigInteger().or(index));
    }

    /** The {@code index}-th block of length {@code subnetLength} inside this one, counting from the start. */
    public IpPrefix subnet(int subnetLength, long index) {
        int countBits = checkSubnetLength(subnetLength);
        if (index < 0 || (countBits < 63 && index >= 1L << countBits)) {
            throw new IndexOutOfBoundsException("subnet " + index + " of " + this + " in /" + subnetLength
                    + " blocks: there are 2^" + countBits);
        }
        int shift = family().bits() - subnetLength;
        long high = shift == 0 ? 0 : shift < 64 ? index >>> (64 - shift) : index << (shift - 64);
        long low = shift < 64 ? index << shift : 0;
        return new IpPrefix(new IpAddress(family(), network.high() | high, network.low() | low), subnetLength);
    }

    /** Which block of length {@code subnetLength} inside this one holds the address: the inverse of {@link #subnet}. */
    public long subnetIndex(IpAddress address, int subnetLength) {
        int countBits = checkSubnetLength(subnetLength);
        if (countBits > 63) {
            throw new IllegalArgumentException(this + " has 2^" + countBits + " /" + subnetLength + " blocks, more than a long counts");
        }
        if (!contains(address)) {
            throw new IllegalArgumentException(address + " is not in " + this);
        }
        long high = address.high() ^ network.high();
        long low = address.low() ^ network.low();
        int shift = family().bits() - subnetLength;
        long offset = shift == 0 ? low : shift < 64 ? low >>> shift | high << (64 - shift) : high >>> (shift - 64);
        return countBits == 0 ? 0 : offset & (-1L >>> (64 - countBits));
    }

    private int checkSubnetLength(int subnetLength) {
        if (subnetLength < prefixLength || subnetLength > family().bits()) {
            throw new IllegalArgumentException("/" + subnetLength + " blocks do not fit in " + this
                    + ": the length must be " + prefixLength + "-" + family().bits());
        }
        return subnetLength - prefixLength;
    }

    /** Every block of length {@code subnetLength} inside this one, in address order; they cover it exactly. */
    public List<IpPrefix> split(int subnetLength) {
        int countBits = checkSubnetLength(subnetLength);
        if (countBits > MAX_SPLIT_BITS) {
            throw new IllegalArgumentException("splitting " + this + " into /" + subnetLength + " blocks gives 2^"
                    + countBits + " of them; at most 2^" + MAX_SPLIT_BITS + " (use subnet(length, index))");
        }
        List<IpPrefix> out = new ArrayList<>(1 << countBits);
        for (long i = 0; i < 1L << countBits; i++) {
            out.add(subnet(subnetLength, i));
        }
        return out;
    }

    /**
     * This block without the addresses of {@code excluded}, as the fewest blocks, in address order (the semantics of
     * a NetworkPolicy ipBlock with {@code except}). Excluded blocks of the other family or outside this one change
     * nothing.
     */
    public List<IpPrefix> subtract(Collection<IpPrefix> excluded) {
        List<IpPrefix> relevant = new ArrayList<>();
        for (IpPrefix e : excluded) {
            if (e.family() == family() && e.overlaps(this)) {
                relevant.add(e);
            }
        }
        List<IpPrefix> out = new ArrayList<>();
        subtract(this, relevant, out);
        return out;
    }

    /**
     * A block that no excluded block touches is kept whole; one that an excluded block covers is dropped; any other
     * is halved. Each kept block is therefore the largest aligned block around it that avoids every exclusion, and
     * such a set of maximal blocks is the smallest cover there is.
     */
    private static void subtract(IpPrefix block, List<IpPrefix> excluded, List<IpPrefix> out) {
        List<IpPrefix> touching = new ArrayList<>();
        for (IpPrefix e : excluded) {
            if (e.contains(block)) {
                return;
            }
            if (block.contains(e)) {
                touching.add(e);
            }
        }
        if (touching.isEmpty()) {
            out.add(block);
            return;
        }
        int h = block.hostBits() - 1;
        IpAddress n = block.network;
        IpAddress upper = new IpAddress(n.family(), h >= 64 ? n.high() | 1L << (h - 64) : n.high(),
                h < 64 ? n.low() | 1L << h : n.low());
        subtract(new IpPrefix(n, block.prefixLength + 1), touching, out);
        subtract(new IpPrefix(upper, block.prefixLength + 1), touching, out);
    }

    /** Family, then network address, then length (a block before the blocks inside it). */
    @Override
    public int compareTo(IpPrefix o) {
        int c = network.compareTo(o.network);
        return c != 0 ? c : Integer.compare(prefixLength, o.prefixLength);
    }

    /** Canonical text, such as "10.10.1.0/24" or "fd00:10:244:1::/64". */
    @Override
    public String toString() {
        return network + "/" + prefixLength;
    }
}
