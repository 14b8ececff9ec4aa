package dev.weft.agent.node;

import java.util.Collection;
import java.util.Optional;

/**
 * The local pods this agent has plumbed, kept by the CNI server (persisted under the agent's state directory).
 * The datapath reads it to map a pod to its OpenFlow port (policy applied-to, named ports) and the CLI lists it.
 */
public interface PodInterfaceStore {

    Collection<PodInterface> all();

    Optional<PodInterface> byPod(String namespace, String name);

    Optional<PodInterface> byOfport(int ofport);
}
