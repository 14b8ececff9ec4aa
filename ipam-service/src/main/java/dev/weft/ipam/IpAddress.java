package dev.weft.ipam;

import com.google.common.net.InetAddresses;

import java.math.BigInteger;
import java.net.Inet4Address;
import java.net.InetAddress;
import java.util.Objects;

/**
 * An IPv4 or IPv6 address as an unsigned number. Parsing is strict (dotted quad, RFC 4291 text; no host names,
 * no zone ids) and never touches DNS; {@link #toString()} is canonical (RFC 5952 for IPv6).
 */
public record IpAddress(Family family, BigInteger value) implements Comparable<IpAddress> {

    public IpAddress {
        Objects.requireNonNull(family, "family");
        Objects.requireNonNull(value, "value");
        if (value.signum() < 0 || value.bitLength() > family.bits()) {
            throw new IllegalArgumentException(value + " is not a " + family + " address value");
        }
    }

    /** Parses an address literal; IllegalArgumentException with a readable message if it is not one. */
    public static IpAddress parse(String text) {
        if (text == null || text.isBlank()) {
            throw new IllegalArgumentException("empty IP address");
        }
        String t = text.strip();
        // InetAddresses.forString only accepts literals; a zone id ("%eth0") has no place in a pod CIDR.
        if (t.indexOf('%') >= 0 || !InetAddresses.isInetAddress(t)) {
            throw new IllegalArgumentException("'" + text + "' is not an IPv4 or IPv6 address");
        }
        InetAddress a = InetAddresses.forString(t);
        byte[] bytes = a.getAddress();
        if (t.indexOf(':') >= 0 && a instanceof Inet4Address) {
            // An IPv4-mapped IPv6 literal ("::ffff:1.2.3.4") stays IPv6: the family is what the text says.
            byte[] mapped = new byte[16];
            mapped[10] = (byte) 0xff;
            mapped[11] = (byte) 0xff;
            System.arraycopy(bytes, 0, mapped, 12, 4);
            bytes = mapped;
        }
        return new IpAddress(bytes.length == 4 ? Family.IPV4 : Family.IPV6, new BigInteger(1, bytes));
    }

    @Override
    public int compareTo(IpAddress o) {
        int c = family.compareTo(o.family);
        return c != 0 ? c : value.compareTo(o.value);
    }

    @Override
    public String toString() {
        return format(family, value);
    }

    static String format(Family family, BigInteger value) {
        if (family == Family.IPV4) {
            long v = value.longValue();
            return ((v >>> 24) & 0xff) + "." + ((v >>> 16) & 0xff) + "." + ((v >>> 8) & 0xff) + "." + (v & 0xff);
        }
        int[] groups = new int[8];
        for (int i = 0; i < 8; i++) {
            groups[i] = value.shiftRight(16 * (7 - i)).intValue() & 0xffff;
        }
        // RFC 5952: compress the longest run (first on a tie) of two or more zero groups.
        int bestStart = -1;
        int bestLen = 1;
        for (int i = 0; i < 8; ) {
            if (groups[i] != 0) {
                i++;
                continue;
            }
            int j = i;
            while (j < 8 && groups[j] == 0) {
                j++;
            }
            if (j - i > bestLen) {
                bestStart = i;
                bestLen = j - i;
            }
            i = j;
        }
        StringBuilder sb = new StringBuilder(39);
        for (int i = 0; i < 8; i++) {
            if (i == bestStart) {
                sb.append("::");
                i += bestLen - 1;
                continue;
            }
            if (sb.length() > 0 && sb.charAt(sb.length() - 1) != ':') {
                sb.append(':');
            }
            sb.append(Integer.toHexString(groups[i]));
        }
        return sb.toString();
    }
}
