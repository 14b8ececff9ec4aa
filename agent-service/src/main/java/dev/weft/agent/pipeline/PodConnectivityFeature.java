package dev.weft.agent.pipeline;

import dev.weft.net.IpAddress;
import dev.weft.net.AddressFamily;
import dev.weft.agent.node.NodeNetwork;
import dev.weft.agent.node.PodInterface;
import dev.weft.agent.openflow.FlowMod;

import java.util.ArrayList;
import java.util.List;
import java.util.Set;

import static dev.weft.agent.pipeline.FlowBuilder.flow;
import static dev.weft.agent.pipeline.FlowPriority.LOW;
import static dev.weft.agent.pipeline.FlowPriority.NORMAL;
import static dev.weft.agent.pipeline.PipelineFields.FROM_LOCAL_REG_MARK;
import static dev.weft.agent.pipeline.PipelineFields.FROM_TUNNEL_REG_MARK;
import static dev.weft.agent.pipeline.PipelineFields.REWRITE_MAC_REG_MARK;
import static dev.weft.agent.pipeline.PipelineFields.TARGET_OF_PORT_FIELD;
import static dev.weft.agent.pipeline.PipelineTable.*;

/**
 * Each local pod's forwarding, one store owner per pod (its OpenFlow port): classification, spoof guard (IP and ARP
 * source must be the pod's), L2 to the pod, and L3 from the tunnel to the pod with the MACs rewritten as a router
 * would (this needs the gateway MAC: the pods' flows follow the node network).
 */
public final class PodConnectivityFeature implements PipelineFeature {

    private static final Declaration DECLARATION = new Declaration("PodConnectivity",
            List.of(CLASSIFICATION, SPOOF_GUARD, L3_FORWARDING, L2_FORWARDING), Set.of(Cookie.Category.POD));

    private final Datapath datapath;

    PodConnectivityFeature(Datapath datapath) {
        this.datapath = datapath;
    }

    static long owner(PodInterface pod) {
        return FlowStore.owner(Cookie.Category.POD, pod.ofport());
    }

    @Override
    public Declaration declaration() {
        return DECLARATION;
    }

    @Override
    public void podAdded(PodInterface pod) {
        datapath.apply(this, owner(pod), flows(pod, datapath.nodeNetwork()));
    }

    @Override
    public void podRemoved(PodInterface pod) {
        datapath.apply(this, owner(pod), List.of());
    }

    @Override
    public void nodeNetworkChanged(NodeNetwork node) {
        for (PodInterface pod : datapath.localPods().values()) {
            datapath.apply(this, owner(pod), flows(pod, node));
        }
    }

    /** The pod's flows are on the switch (CNI CHECK). */
    public boolean installed(PodInterface pod) {
        return datapath.storedFlows(owner(pod)).length > 0 && datapath.isReady();
    }

    /** @param node the node network, or null while it is not known (no route from the tunnel yet) */
    static List<FlowMod> flows(PodInterface pod, NodeNetwork node) {
        Cookie c = Cookie.of(Cookie.Category.POD, pod.ofport());
        int port = pod.ofport();
        String mac = pod.mac();
        List<FlowMod> f = new ArrayList<>();
        f.add(flow(CLASSIFICATION, LOW).cookie(c).match(m -> m.inPort(port))
                .load(FROM_LOCAL_REG_MARK).resubmit(SPOOF_GUARD).build());
        f.add(flow(L2_FORWARDING, NORMAL).cookie(c).match(m -> m.dlDst(mac)).load(TARGET_OF_PORT_FIELD, port)
                .resubmit(INGRESS_RULE).build());
        for (String ip : pod.ips()) {
            if (IpAddress.parse(ip).family() != AddressFamily.IPV4) {
                continue; // IPv6 forwarding comes with dual-stack support
            }
            f.add(flow(SPOOF_GUARD, NORMAL).cookie(c).match(m -> m.ip().inPort(port).dlSrc(mac).nwSrc(ip))
                    .resubmit(CONNTRACK_ZONE).build());
            f.add(flow(SPOOF_GUARD, NORMAL).cookie(c).match(m -> m.inPort(port).arpSpa(ip).arpSha(mac))
                    .resubmit(ARP_RESPONDER).build());
            if (node != null && node.gatewayMac() != null && !node.gatewayMac().isBlank()) {
                // from the tunnel: routed to the pod, so rewrite the MACs as a router would
                f.add(flow(L3_FORWARDING, NORMAL).cookie(c).match(m -> m.ip().regMark(FROM_TUNNEL_REG_MARK).nwDst(ip))
                        .setEthSrc(node.gatewayMac()).setEthDst(mac).decTtl().resubmit(L2_FORWARDING).build());
                // DNATed to this pod as a Service endpoint: the client sent it to the gateway MAC, so route it likewise
                f.add(flow(L3_FORWARDING, NORMAL).cookie(c).match(m -> m.ip().regMark(REWRITE_MAC_REG_MARK).nwDst(ip))
                        .setEthSrc(node.gatewayMac()).setEthDst(mac).decTtl().resubmit(L2_FORWARDING).build());
            }
        }
        return f;
    }
}
