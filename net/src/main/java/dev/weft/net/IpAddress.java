package dev.weft.net;

import java.math.BigInteger;
import java.util.Objects;
import java.util.Optional;

/**
 * An IPv4 or IPv6 address, as the unsigned number it is: {@code high} and {@code low} are its upper and lower 64
 * bits (an IPv4 address uses the lower 32 bits of {@code low}; {@code high} is 0).
 *
 * <p>{@link #parse} is strict (see {@link Literals}) and never resolves names. {@link #toString()} is the one
 * canonical text: dotted decimal for IPv4, RFC 5952 for IPv6 (lower case, no leading zeros, the longest run of zero
 * groups as "::"). Every address has exactly one text form, so equal addresses have equal strings.
 *
 * <p>IPv4-mapped IPv6 addresses ({@code ::ffff:10.0.0.1}) stay IPv6: the family is what the text says, so a mapped
 * address never matches an IPv4 prefix by accident. They print in hexadecimal like every IPv6 address
 * ({@code ::ffff:a00:1}); {@link #unmapIpv4()} and {@link #toIpv4Mapped()} convert explicitly.
 */
public record IpAddress(AddressFamily family, long high, long low) implements Comparable<IpAddress> {

    private static final long IPV4_MAPPED_PREFIX = 0xffff_0000_0000L;

    public IpAddress {
        Objects.requireNonNull(family, "family");
        if (family == AddressFamily.IPV4 && (high != 0 || (low >>> 32) != 0)) {
            throw new IllegalArgumentException("an IPv4 address has 32 bits: high=" + high + " low=" + low);
        }
    }

    /** Parses an IPv4 or IPv6 address; {@link AddressFormatException} says what is wrong with the text. */
    public static IpAddress parse(String text) {
        return Literals.address(text, null);
    }

    /** Parses an address that must be of {@code family}; an address of the other family is an error too. */
    public static IpAddress parse(String text, AddressFamily family) {
        Objects.requireNonNull(family, "family");
        return Literals.address(text, family);
    }

    /** The address, or empty if the text is not one (for filters over mixed lists, such as a Node's addresses). */
    public static Optional<IpAddress> tryParse(String text) {
        try {
            return text == null || text.isEmpty() ? Optional.empty() : Optional.of(Literals.parseAddress(text));
        } catch (Literals.Invalid e) {
            return Optional.empty();
        }
    }

    /** The IPv4 address with these 32 bits (network order: the first octet is the top byte). */
    public static IpAddress ofIpv4(int bits) {
        return new IpAddress(AddressFamily.IPV4, 0, Integer.toUnsignedLong(bits));
    }

    /** From 4 (IPv4) or 16 (IPv6) bytes in network order. */
    public static IpAddress ofBytes(byte[] bytes) {
        if (bytes.length != 4 && bytes.length != 16) {
            throw new IllegalArgumentException("an IP address has 4 or 16 bytes, not " + bytes.length);
        }
        long high = 0;
        long low = 0;
        if (bytes.length == 4) {
            for (byte b : bytes) {
                low = low << 8 | (b & 0xff);
            }
            return new IpAddress(AddressFamily.IPV4, 0, low);
        }
        for (int i = 0; i < 8; i++) {
            high = high << 8 | (bytes[i] & 0xff);
            low = low << 8 | (bytes[i + 8] & 0xff);
        }
        return new IpAddress(AddressFamily.IPV6, high, low);
    }

    /** The address whose unsigned value is {@code value}. */
    public static IpAddress of(AddressFamily family, BigInteger value) {
        if (value.signum() < 0 || value.bitLength() > family.bits()) {
            throw new IllegalArgumentException(value + " is not an " + family + " address value");
        }
        return new IpAddress(family, value.shiftRight(64).longValue(), value.longValue());
    }

    /** The 32 bits of an IPv4 address. */
    public int ipv4Bits() {
        if (family != AddressFamily.IPV4) {
            throw new IllegalStateException(this + " is not an IPv4 address");
        }
        return (int) low;
    }

    /** The address in network order: 4 or 16 bytes, a fresh array. */
    public byte[] bytes() {
        int n = family.bytes();
        byte[] out = new byte[n];
        for (int i = 0; i < n; i++) {
            int bitFromRight = 8 * (n - 1 - i);
            out[i] = (byte) (bitFromRight >= 64 ? high >>> (bitFromRight - 64) : low >>> bitFromRight);
        }
        return out;
    }

    public BigInteger toBigInteger() {
        return new BigInteger(1, bytes());
    }

    /** True for {@code ::ffff:a.b.c.d}. */
    public boolean isIpv4Mapped() {
        return family == AddressFamily.IPV6 && high == 0 && (low >>> 32) == 0xffff;
    }

    /** The IPv4 address inside an IPv4-mapped one; any other address is returned as it is. */
    public IpAddress unmapIpv4() {
        return isIpv4Mapped() ? ofIpv4((int) low) : this;
    }

    /** {@code ::ffff:a.b.c.d} for an IPv4 address; an IPv6 address is returned as it is. */
    public IpAddress toIpv4Mapped() {
        return family == AddressFamily.IPV4 ? new IpAddress(AddressFamily.IPV6, 0, IPV4_MAPPED_PREFIX | low) : this;
    }

    /** The prefix holding just this address: /32 or /128. */
    public IpPrefix toHostPrefix() {
        return new IpPrefix(this, family.bits());
    }

    @Override
    public int compareTo(IpAddress o) {
        int c = family.compareTo(o.family);
        if (c != 0) {
            return c;
        }
        c = Long.compareUnsigned(high, o.high);
        return c != 0 ? c : Long.compareUnsigned(low, o.low);
    }

    /** The canonical text (see the class comment). */
    @Override
    public String toString() {
        if (family == AddressFamily.IPV4) {
            return (low >>> 24) + "." + ((low >>> 16) & 0xff) + "." + ((low >>> 8) & 0xff) + "." + (low & 0xff);
        }
        int[] groups = new int[8];
        for (int i = 0; i < 4; i++) {
            groups[i] = (int) (high >>> (48 - 16 * i)) & 0xffff;
            groups[i + 4] = (int) (low >>> (48 - 16 * i)) & 0xffff;
        }
        // RFC 5952 4.2: the longest run (the first of equal ones) of two or more zero groups becomes "::".
        int bestStart = -1;
        int bestLength = 1;
        for (int i = 0; i < 8; ) {
            if (groups[i] != 0) {
                i++;
                continue;
            }
            int j = i;
            while (j < 8 && groups[j] == 0) {
                j++;
            }
            if (j - i > bestLength) {
                bestStart = i;
                bestLength = j - i;
            }
            i = j;
        }
        StringBuilder sb = new StringBuilder(39);
        for (int i = 0; i < 8; i++) {
            if (i == bestStart) {
                sb.append("::");
                i += bestLength - 1;
                continue;
            }
            if (!sb.isEmpty() && sb.charAt(sb.length() - 1) != ':') {
                sb.append(':');
            }
            sb.append(Integer.toHexString(groups[i]));
        }
        return sb.toString();
    }
}
