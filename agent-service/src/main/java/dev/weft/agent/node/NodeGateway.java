package dev.weft.agent.node;

import dev.weft.agent.AgentConfig;
import dev.weft.agent.host.GatewayInterface;
import dev.weft.agent.host.NodeBridge;
import dev.weft.agent.host.NodeHostNetwork;
import dev.weft.agent.host.NodeMtu;
import dev.weft.agent.ipam.PodSubnet;
import dev.weft.net.InterfaceAddress;
import dev.weft.net.IpAddress;
import dev.weft.net.IpPrefix;
import dev.weft.net.MacAddress;
import jakarta.enterprise.context.ApplicationScoped;
import jakarta.inject.Inject;
import org.jboss.logging.Logger;

import java.io.IOException;
import java.util.List;

/**
 * Brings the node's side of the bridge up at agent start: the bridge itself (created or repaired, {@link NodeBridge}),
 * the node gateway (the Antrea walkthrough's gw0: an OVS internal port carrying the first address of the node's pod CIDR, with a MAC
 * derived from that address so it survives restarts, and the MTU the tunnel leaves room for) and the tunnel port.
 * Idempotent: what exists is reused. Afterwards {@link NodeHostNetwork} keeps forwarding, routes and SNAT in place.
 */
@ApplicationScoped
public class NodeGateway {

    private static final Logger LOG = Logger.getLogger(NodeGateway.class);

    @Inject
    AgentConfig config;

    @Inject
    NodeBridge bridge;

    @Inject
    NodeHostNetwork host;

    /**
     * Creates or repairs the bridge and the gateway for the IPv4 CIDR and returns the node network.
     *
     * @throws IOException when the bridge or the gateway cannot be set up (a conflict is also reported by the
     *                     node-network readiness check); the caller retries
     */
    public NodeNetwork ensure(String nodeName, PodSubnet v4, List<IpPrefix> podCidrs, String nodeIp) throws IOException {
        String name = config.gatewayName();
        IpAddress gatewayIp = v4.gateway();
        MacAddress mac = PodSubnet.macFor(gatewayIp);
        InterfaceAddress address = new InterfaceAddress(gatewayIp, v4.prefixLength());
        int ofport;
        NodeMtu.Choice mtu;
        try {
            bridge.ensureBridge();
            mtu = NodeMtu.choose(config.podMtu(), nodeIp, config.tunnelType(), host.commands());
            ofport = bridge.ensureGateway(mac.toString(), mtu.mtu());
            GatewayInterface.configure(host.commands(), name, mac.toString(), mtu.mtu(), address.toString());
        } catch (IOException | RuntimeException e) {
            host.bridgeProblem(e.getMessage());
            throw e;
        }
        try {
            bridge.ensureTunnel();
        } catch (IOException e) {
            // Local pods work without it; the node-network check reports it and the host side retries.
            LOG.warnf("tunnel port %s not set up yet: %s", config.tunnelName(), e.getMessage());
        }
        LOG.infof("gateway %s: %s mac %s ofport %d, MTU %d (%s)%s", name, address, mac, ofport,
                mtu.mtu(), mtu.reason(), config.nodeNetns().map(ns -> " in netns " + ns).orElse(""));
        NodeNetwork network = new NodeNetwork(nodeName, podCidrs.stream().map(IpPrefix::toString).toList(),
                List.of(gatewayIp.toString()), mac.toString(), name, ofport, nodeIp, mtu.mtu());
        host.nodeUp(network);
        return network;
    }
}
