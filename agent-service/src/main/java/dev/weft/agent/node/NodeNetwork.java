package dev.weft.agent.node;

import java.util.List;

/**
 * This node's addressing, known once the node's pod CIDR is known and the gateway port exists on the bridge.
 *
 * @param podCidrs      the node's pod CIDRs from ipam-service / Node.spec.podCIDRs, IPv4 first
 * @param gatewayIps    first address of each pod CIDR, on the gateway port (gw0 in the Antrea walkthrough)
 * @param gatewayOfport OpenFlow port of the gateway
 * @param nodeIp        the node's underlay (transport) address, used as tunnel source; may be empty
 * @param mtu           MTU of the gateway and of every pod interface (uplink MTU minus the tunnel overhead)
 */
public record NodeNetwork(String nodeName, List<String> podCidrs, List<String> gatewayIps, String gatewayMac,
                          String gatewayIfName, int gatewayOfport, String nodeIp, int mtu) {
    /** The MTU when none is given: 1500-byte Ethernet minus 50 bytes of Geneve over IPv4. */
    public static final int DEFAULT_MTU = 1450;

    public NodeNetwork {
        podCidrs = List.copyOf(podCidrs);
        gatewayIps = List.copyOf(gatewayIps);
    }

    /** A node network with the default MTU (for the datapath, which does not use it). */
    public NodeNetwork(String nodeName, List<String> podCidrs, List<String> gatewayIps, String gatewayMac,
                       String gatewayIfName, int gatewayOfport, String nodeIp) {
        this(nodeName, podCidrs, gatewayIps, gatewayMac, gatewayIfName, gatewayOfport, nodeIp, DEFAULT_MTU);
    }
}
