package dev.weft.agent.ipam;

/**
 * An IPv4 network in CIDR notation, e.g. 10.10.1.0/24. Addresses are handled as unsigned 32-bit values in a long.
 */
public record Ipv4Cidr(long network, int prefix) {

    public Ipv4Cidr {
        if (prefix < 1 || prefix > 30) {
            throw new IllegalArgumentException("pod CIDR prefix must be /1../30 (room for a gateway and pods): /" + prefix);
        }
        if ((network & ~mask(prefix)) != 0) {
            throw new IllegalArgumentException("host bits set in " + format(network) + "/" + prefix);
        }
    }

    public static Ipv4Cidr parse(String text) {
        int slash = text.indexOf('/');
        if (slash < 0) {
            throw new IllegalArgumentException("not a CIDR: " + text);
        }
        return new Ipv4Cidr(parseIp(text.substring(0, slash)), Integer.parseInt(text.substring(slash + 1).trim()));
    }

    public static boolean isIpv4(String cidrOrIp) {
        return cidrOrIp.indexOf(':') < 0;
    }

    public static long parseIp(String ip) {
        String[] parts = ip.trim().split("\\.");
        if (parts.length != 4) {
            throw new IllegalArgumentException("not an IPv4 address: " + ip);
        }
        long v = 0;
        for (String p : parts) {
            int o = Integer.parseInt(p);
            if (o < 0 || o > 255) {
                throw new IllegalArgumentException("not an IPv4 address: " + ip);
            }
            v = (v << 8) | o;
        }
        return v;
    }

    public static String format(long ip) {
        return ((ip >> 24) & 0xff) + "." + ((ip >> 16) & 0xff) + "." + ((ip >> 8) & 0xff) + "." + (ip & 0xff);
    }

    private static long mask(int prefix) {
        return (0xffffffffL << (32 - prefix)) & 0xffffffffL;
    }

    public long size() {
        return 1L << (32 - prefix);
    }

    /** The address at offset i from the network address. */
    public long at(long i) {
        return network + i;
    }

    /** The gateway: the first usable address. */
    public String gateway() {
        return format(network + 1);
    }

    public boolean contains(String ip) {
        return isIpv4(ip) && (parseIp(ip) & mask(prefix)) == network;
    }

    /** Network and broadcast addresses are never handed out, nor the gateway. */
    public boolean usableForPod(long ip) {
        return ip > network + 1 && ip < network + size() - 1;
    }

    /** A stable MAC derived from an address (locally administered, OVN-Kubernetes style 0a:58:a.b.c.d). */
    public static String macFor(String ip) {
        long v = parseIp(ip);
        return String.format("0a:58:%02x:%02x:%02x:%02x", (v >> 24) & 0xff, (v >> 16) & 0xff, (v >> 8) & 0xff, v & 0xff);
    }

    @Override
    public String toString() {
        return format(network) + "/" + prefix;
    }
}
