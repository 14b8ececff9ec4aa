package dev.weft.agent.pipeline;

import dev.weft.net.IpAddress;
import dev.weft.net.AddressFamily;
import dev.weft.agent.node.NodeNetwork;
import dev.weft.agent.openflow.FlowMod;

import java.util.ArrayList;
import java.util.List;
import java.util.Set;

import static dev.weft.agent.pipeline.FlowBuilder.flow;
import static dev.weft.agent.pipeline.FlowPriority.HIGH;
import static dev.weft.agent.pipeline.FlowPriority.NORMAL;
import static dev.weft.agent.pipeline.PipelineFields.FROM_GATEWAY_REG_MARK;
import static dev.weft.agent.pipeline.PipelineFields.FROM_TUNNEL_REG_MARK;
import static dev.weft.agent.pipeline.PipelineFields.TARGET_OF_PORT_FIELD;
import static dev.weft.agent.pipeline.PipelineTable.*;

/**
 * The node's gateway port (the host side, Antrea's antrea-gw0): classification, spoof guard, L2 to the gateway, and
 * the host's traffic to local pods allowed past ingress policy (kubelet probes). Follows the node network.
 */
final class GatewayFeature implements PipelineFeature {

    static final long OWNER = FlowStore.owner(Cookie.Category.GATEWAY, 0);
    private static final Declaration DECLARATION = new Declaration("Gateway",
            List.of(CLASSIFICATION, SPOOF_GUARD, L3_FORWARDING, L2_FORWARDING, INGRESS_RULE), Set.of(Cookie.Category.GATEWAY));

    private final Datapath datapath;

    GatewayFeature(Datapath datapath) {
        this.datapath = datapath;
    }

    @Override
    public Declaration declaration() {
        return DECLARATION;
    }

    @Override
    public void nodeNetworkChanged(NodeNetwork node) {
        datapath.apply(this, OWNER, flows(node));
    }

    static List<FlowMod> flows(NodeNetwork n) {
        List<FlowMod> f = new ArrayList<>();
        int gw = n.gatewayOfport();
        if (gw <= 0) {
            return f;
        }
        Cookie c = Cookie.of(Cookie.Category.GATEWAY, gw);
        f.add(flow(CLASSIFICATION, NORMAL).cookie(c).match(m -> m.inPort(gw))
                .load(FROM_GATEWAY_REG_MARK).resubmit(SPOOF_GUARD).build());
        f.add(flow(SPOOF_GUARD, NORMAL).cookie(c).match(m -> m.ip().inPort(gw)).resubmit(CONNTRACK_ZONE).build());
        f.add(flow(SPOOF_GUARD, NORMAL).cookie(c).match(m -> m.arp().inPort(gw)).resubmit(ARP_RESPONDER).build());
        if (n.gatewayMac() != null && !n.gatewayMac().isBlank()) {
            // packets for the gateway (the host) are not subject to pod ingress policy
            f.add(flow(L2_FORWARDING, NORMAL).cookie(c).match(m -> m.dlDst(n.gatewayMac()))
                    .load(TARGET_OF_PORT_FIELD, gw).resubmit(CONNTRACK_COMMIT).build());
        }
        for (String ip : n.gatewayIps()) {
            if (IpAddress.parse(ip).family() == AddressFamily.IPV4 && n.gatewayMac() != null && !n.gatewayMac().isBlank()) {
                // from the tunnel to this node's gateway address (a peer pod's reply to the host): routed to the host,
                // so the virtual MAC becomes the gateway's
                f.add(flow(L3_FORWARDING, NORMAL).cookie(c).match(m -> m.ip().regMark(FROM_TUNNEL_REG_MARK).nwDst(ip))
                        .setEthSrc(PeerNodesFeature.VIRTUAL_MAC).setEthDst(n.gatewayMac()).decTtl()
                        .resubmit(L2_FORWARDING).build());
            }
            if (IpAddress.parse(ip).family() == AddressFamily.IPV4) {
                // the host (kubelet probes) may always reach local pods, as the Antrea walkthrough's nw_src=<gateway> flow
                f.add(flow(INGRESS_RULE, HIGH).cookie(c).match(m -> m.ip().nwSrc(ip)).resubmit(CONNTRACK_COMMIT).build());
            }
        }
        return f;
    }
}
