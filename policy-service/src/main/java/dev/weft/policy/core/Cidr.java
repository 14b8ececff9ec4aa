package dev.weft.policy.core;

import java.net.Inet4Address;
import java.net.InetAddress;
import java.util.Arrays;

/** An IPv4 or IPv6 CIDR parsed without any name lookup, in canonical form (host bits cleared). */
public record Cidr(byte[] network, int prefix) {

    private static final java.util.regex.Pattern IPV4 =
            java.util.regex.Pattern.compile("(0|[1-9][0-9]{0,2})(\\.(0|[1-9][0-9]{0,2})){3}");

    public static Cidr parse(String text) {
        if (text == null || text.isBlank()) {
            throw new InvalidPolicyException("empty CIDR");
        }
        int slash = text.indexOf('/');
        if (slash < 0) {
            throw new InvalidPolicyException("invalid CIDR '" + text + "': missing /prefix");
        }
        String addr = text.substring(0, slash);
        byte[] bytes;
        if (addr.indexOf(':') < 0 && !IPV4.matcher(addr).matches()) {
            // ofLiteral also takes BSD forms such as "10.0.0" or "010.1.1.1": Kubernetes does not.
            throw new InvalidPolicyException("invalid CIDR '" + text + "': bad address");
        }
        try {
            // ofLiteral never resolves names: only numeric IPv4/IPv6 literals are accepted.
            InetAddress a = InetAddress.ofLiteral(addr);
            bytes = a.getAddress();
            if (!(a instanceof Inet4Address) && addr.indexOf(':') < 0) {
                throw new IllegalArgumentException("not an address");
            }
        } catch (IllegalArgumentException e) {
            throw new InvalidPolicyException("invalid CIDR '" + text + "': bad address");
        }
        int prefix;
        try {
            prefix = Integer.parseInt(text.substring(slash + 1));
        } catch (NumberFormatException e) {
            throw new InvalidPolicyException("invalid CIDR '" + text + "': bad prefix length");
        }
        if (prefix < 0 || prefix > bytes.length * 8) {
            throw new InvalidPolicyException("invalid CIDR '" + text + "': prefix length out of range");
        }
        return new Cidr(mask(bytes, prefix), prefix);
    }

    private static byte[] mask(byte[] b, int prefix) {
        byte[] out = b.clone();
        for (int i = 0; i < out.length; i++) {
            int bits = Math.max(0, Math.min(8, prefix - i * 8));
            out[i] &= (byte) (0xff << (8 - bits));
        }
        return out;
    }

    /** True if {@code other} is a strict subset of this block (same family, longer prefix, inside). */
    public boolean strictlyContains(Cidr other) {
        return other.network.length == network.length && other.prefix > prefix
                && Arrays.equals(mask(other.network, prefix), network);
    }

    @Override
    public String toString() {
        try {
            return InetAddress.getByAddress(network).getHostAddress() + "/" + prefix;
        } catch (java.net.UnknownHostException e) {
            throw new IllegalStateException(e);
        }
    }

    @Override
    public boolean equals(Object o) {
        return o instanceof Cidr c && c.prefix == prefix && Arrays.equals(c.network, network);
    }

    @Override
    public int hashCode() {
        return Arrays.hashCode(network) * 31 + prefix;
    }
}
