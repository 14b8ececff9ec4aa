package dev.weft.agent.service;

import dev.weft.net.AddressFamily;
import dev.weft.net.IpAddress;

import java.util.Locale;

/**
 * What a client addresses: a Service's cluster IP, the IP protocol and the Service port ({@code 10.96.0.10/UDP:53}).
 * Two ports of one Service are two keys; the same port number over TCP and UDP too.
 *
 * @param clusterIp IPv4 address (IPv6 Services come with dual-stack support)
 * @param protocol  TCP, UDP or SCTP
 */
public record ServicePortKey(String clusterIp, Protocol protocol, int port) implements Comparable<ServicePortKey> {

    public enum Protocol {
        TCP(6), UDP(17), SCTP(132);

        public final int ipProto;

        Protocol(int ipProto) {
            this.ipProto = ipProto;
        }

        /** Kubernetes' protocol name (TCP when unset, as the API server defaults it). */
        public static Protocol parse(String name) {
            if (name == null || name.isBlank()) {
                return TCP;
            }
            try {
                return valueOf(name.trim().toUpperCase(Locale.ROOT));
            } catch (IllegalArgumentException e) {
                throw new IllegalArgumentException("unknown protocol " + name + " (TCP, UDP or SCTP)");
            }
        }
    }

    public ServicePortKey {
        if (IpAddress.parse(clusterIp).family() != AddressFamily.IPV4) {
            throw new IllegalArgumentException("cluster IP " + clusterIp + " is not IPv4");
        }
        if (port < 1 || port > 65535) {
            throw new IllegalArgumentException("bad Service port " + port);
        }
    }

    @Override
    public int compareTo(ServicePortKey o) {
        int c = Long.compare(Integer.toUnsignedLong(IpAddress.parse(clusterIp).ipv4Bits()),
                Integer.toUnsignedLong(IpAddress.parse(o.clusterIp).ipv4Bits()));
        if (c != 0) {
            return c;
        }
        c = protocol.compareTo(o.protocol);
        return c != 0 ? c : Integer.compare(port, o.port);
    }

    @Override
    public String toString() {
        return clusterIp + "/" + protocol + ":" + port;
    }
}
