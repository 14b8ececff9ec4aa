package dev.weft.agent.openflow;

/** One flow as the switch reports it in a flow-stats reply, with its counters. */
public record FlowStats(FlowMod flow, long packets, long bytes, double durationSeconds) {
}
