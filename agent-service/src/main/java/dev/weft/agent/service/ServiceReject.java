package dev.weft.agent.service;

import dev.weft.agent.openflow.FlowMod;
import dev.weft.agent.pipeline.FlowBuilder;

/**
 * What the DNAT flow of a Service port without endpoints does with a new connection. {@link #NONE} drops it (the
 * client times out); see docs/agent-datapath.md for the reject that answers TCP RST / ICMP port unreachable.
 */
public interface ServiceReject {

    /** The flow for a Service port without endpoints, from its builder (table, priority, cookie, match set). */
    FlowMod flow(FlowBuilder matched, ServicePortKey key);

    ServiceReject NONE = (b, k) -> b.drop().build();
}
