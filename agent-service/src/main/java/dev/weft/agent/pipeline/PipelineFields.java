package dev.weft.agent.pipeline;

import dev.weft.agent.openflow.RegField;
import dev.weft.agent.openflow.RegMark;

import java.util.List;

/**
 * Every register field, register mark and conntrack zone the pipeline uses, named by meaning in this one place
 * (after Antrea's {@code fields.go}); flows load and match these names, never register numbers.
 * docs/agent-datapath.md lists them; {@code DatapathDocTest} keeps the two in line.
 */
public final class PipelineFields {

    private PipelineFields() {
    }

    /** reg0[0..3]: where the packet entered the pipeline (set by Classification). */
    public static final RegField PKT_SOURCE_FIELD = new RegField("PktSourceField", 0, 0, 3);
    public static final RegMark FROM_GATEWAY_REG_MARK = PKT_SOURCE_FIELD.mark("FromGatewayRegMark", 1);
    public static final RegMark FROM_LOCAL_REG_MARK = PKT_SOURCE_FIELD.mark("FromLocalRegMark", 2);
    public static final RegMark FROM_TUNNEL_REG_MARK = PKT_SOURCE_FIELD.mark("FromTunnelRegMark", 3);

    /**
     * reg0[4]: the packet was DNATed to a Service endpoint; it was sent to the gateway MAC (the Service IP is routed), so
     * L3Forwarding rewrites the MACs for a local endpoint as a router would.
     */
    public static final RegField REWRITE_MAC_FIELD = new RegField("RewriteMACField", 0, 4, 4);
    public static final RegMark REWRITE_MAC_REG_MARK = REWRITE_MAC_FIELD.mark("RewriteMACRegMark", 1);

    /**
     * reg0[5]: a pod's connection to its own Service that landed on itself (hairpin): SNATed to {@link #HAIRPIN_VIP},
     * past ingress policy, sent back out of the port it came in by.
     */
    public static final RegField HAIRPIN_FIELD = new RegField("HairpinField", 0, 5, 5);
    public static final RegMark HAIRPIN_REG_MARK = HAIRPIN_FIELD.mark("HairpinRegMark", 1);

    /**
     * reg0[6..7]: where a new connection to a Service port with ClientIP session affinity is in choosing its endpoint
     * (after Antrea's EpToSelect / EpSelected / EpToLearn): DNAT looks the client up in SessionAffinity, then sends it
     * through the group or straight to EndpointDNAT, re-entering DNAT with the next state each time.
     */
    public static final RegField AFFINITY_STATE_FIELD = new RegField("AffinityStateField", 0, 6, 7);
    /** Looked up in SessionAffinity and nothing learned there: the Service port's group chooses the endpoint. */
    public static final RegMark AFFINITY_TO_SELECT_REG_MARK = AFFINITY_STATE_FIELD.mark("AffinityToSelectRegMark", 1);
    /** A learned flow loaded the client's endpoint: straight to EndpointDNAT (the learned flow is refreshed). */
    public static final RegMark AFFINITY_HIT_REG_MARK = AFFINITY_STATE_FIELD.mark("AffinityHitRegMark", 2);
    /** The group chose the endpoint: DNAT learns it for the client, then EndpointDNAT. */
    public static final RegMark AFFINITY_TO_LEARN_REG_MARK = AFFINITY_STATE_FIELD.mark("AffinityToLearnRegMark", 3);

    /**
     * reg1: the OpenFlow port the packet leaves by, chosen by L2Forwarding; ingress policy matches it (the "to"
     * dimension) and Output sends to it.
     */
    public static final RegField TARGET_OF_PORT_FIELD = new RegField("TargetOFPortField", 1, 0, 31);

    /** reg3: the IPv4 address of the endpoint a Service group's bucket chose (EndpointDNAT NATs to it). */
    public static final RegField ENDPOINT_IP_FIELD = new RegField("EndpointIPField", 3, 0, 31);
    /** reg4[0..15]: the port of that endpoint (the Service port's targetPort, resolved per endpoint). */
    public static final RegField ENDPOINT_PORT_FIELD = new RegField("EndpointPortField", 4, 0, 15);

    /** ct_mark of connections DNATed to a Service endpoint (set when EndpointDNAT commits them). */
    public static final long SERVICE_CT_MARK = 0x1;

    /** The conntrack zone of pod traffic (Antrea's CtZone, 0xfff0). */
    public static final int CT_ZONE = 65520;

    /** The conntrack zone of the hairpin SNAT (Antrea's SNATCtZone, 0xfff1). */
    public static final int SNAT_CT_ZONE = 65521;

    /** The source a hairpin connection is SNATed to, so the pod answers it through the switch (Antrea's). */
    public static final String HAIRPIN_VIP = "169.254.0.253";

    public static List<RegField> fields() {
        return List.of(PKT_SOURCE_FIELD, REWRITE_MAC_FIELD, HAIRPIN_FIELD, AFFINITY_STATE_FIELD, TARGET_OF_PORT_FIELD, ENDPOINT_IP_FIELD, ENDPOINT_PORT_FIELD);
    }

    public static List<RegMark> marks() {
        return List.of(FROM_GATEWAY_REG_MARK, FROM_LOCAL_REG_MARK, FROM_TUNNEL_REG_MARK, REWRITE_MAC_REG_MARK, HAIRPIN_REG_MARK,
                AFFINITY_TO_SELECT_REG_MARK, AFFINITY_HIT_REG_MARK, AFFINITY_TO_LEARN_REG_MARK);
    }
}
