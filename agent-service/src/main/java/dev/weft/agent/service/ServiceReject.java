package dev.weft.agent.service;

import dev.weft.agent.openflow.FlowMod;
import dev.weft.agent.pipeline.Datapath;
import dev.weft.agent.pipeline.FlowBuilder;
import dev.weft.agent.pipeline.PipelineFeature;

/**
 * What the DNAT flow of a Service port without endpoints does with a new connection. {@link #NONE} drops it (the
 * client times out); {@link PacketInReject} (the agent's) answers TCP RST / ICMP port unreachable.
 */
public interface ServiceReject {

    /** The flow for a Service port without endpoints, from its builder (table, priority, cookie, match set). */
    FlowMod flow(FlowBuilder matched, ServicePortKey key);

    /** When the Service feature is registered, before any of its flows: meters, packet-in handlers. */
    default void registered(Datapath datapath, PipelineFeature feature) {
    }

    ServiceReject NONE = (b, k) -> b.drop().build();
}
