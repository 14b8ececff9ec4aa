package dev.weft.agent.service;

import dev.weft.net.AddressFamily;
import dev.weft.net.IpAddress;

/**
 * One endpoint of a Service port as the datapath sees it: the address and port a new connection is DNATed to.
 *
 * @param ip   IPv4 address of the endpoint (a pod)
 * @param port the port on the endpoint (the Service port's targetPort, resolved for this endpoint by its EndpointSlice)
 */
public record ServiceEndpoint(String ip, int port) implements Comparable<ServiceEndpoint> {

    public ServiceEndpoint {
        if (IpAddress.parse(ip).family() != AddressFamily.IPV4) {
            throw new IllegalArgumentException("endpoint " + ip + " is not IPv4");
        }
        if (port < 1 || port > 65535) {
            throw new IllegalArgumentException("bad endpoint port " + port + " for " + ip);
        }
    }

    long ipv4() {
        return Integer.toUnsignedLong(IpAddress.parse(ip).ipv4Bits());
    }

    @Override
    public int compareTo(ServiceEndpoint o) {
        int c = Long.compare(ipv4(), o.ipv4());
        return c != 0 ? c : Integer.compare(port, o.port);
    }

    @Override
    public String toString() {
        return ip + ":" + port;
    }
}
