package dev.weft.agent.ipam;

import dev.weft.net.AddressFamily;
import dev.weft.net.IpAddress;
import dev.weft.net.IpPrefix;
import dev.weft.net.MacAddress;

import java.util.Objects;

/**
 * This node's IPv4 pod CIDR and the rules for handing out its addresses: the first address is the gateway, the
 * network and broadcast addresses are never used, so a block needs room for at least a gateway and one pod.
 */
public record PodSubnet(IpPrefix prefix) {

    public PodSubnet {
        Objects.requireNonNull(prefix, "prefix");
        if (prefix.family() != AddressFamily.IPV4) {
            throw new IllegalArgumentException("pod CIDR " + prefix + " is not IPv4 (IPv6 pod networks are not supported yet)");
        }
        if (prefix.prefixLength() < 1 || prefix.prefixLength() > 30) {
            throw new IllegalArgumentException("pod CIDR prefix must be /1../30 (room for a gateway and pods): /"
                    + prefix.prefixLength());
        }
    }

    /** Parses a CIDR strictly (host bits set are an error). */
    public static PodSubnet parse(String text) {
        return new PodSubnet(IpPrefix.parse(text));
    }

    public int prefixLength() {
        return prefix.prefixLength();
    }

    /** Number of addresses, including network, gateway and broadcast. */
    public long size() {
        return 1L << prefix.hostBits();
    }

    /** The address at offset i from the network address. */
    public IpAddress at(long i) {
        return prefix.address(i);
    }

    /** The gateway: the first address after the network address. */
    public IpAddress gateway() {
        return prefix.address(1);
    }

    public boolean contains(IpAddress ip) {
        return prefix.contains(ip);
    }

    /** Network and broadcast addresses are never handed out, nor the gateway. */
    public boolean usableForPod(IpAddress ip) {
        return contains(ip) && !ip.equals(prefix.network()) && !ip.equals(gateway()) && !ip.equals(prefix.last());
    }

    /**
     * A stable MAC derived from an IPv4 address (locally administered, OVN-Kubernetes style 0a:58:a.b.c.d), so an
     * interface keeps its MAC across restarts and neighbours' ARP caches stay valid.
     */
    public static MacAddress macFor(IpAddress ip) {
        return new MacAddress(0x0a58_0000_0000L | Integer.toUnsignedLong(ip.ipv4Bits()));
    }

    @Override
    public String toString() {
        return prefix.toString();
    }
}
