package dev.weft.policy.core;

import dev.weft.proto.controlplane.v1.PolicyEvent;

import java.util.List;

/** Receives the events of one node's stream. */
public interface NodeSink {

    String nodeName();

    /**
     * Called under the engine's lock, in order: must never block (buffer, or close the stream when the buffer is full).
     *
     * @return false once the sink is closed: the engine then forgets it
     */
    boolean deliver(List<PolicyEvent> events);
}
