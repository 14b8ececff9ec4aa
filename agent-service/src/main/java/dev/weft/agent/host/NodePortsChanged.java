package dev.weft.agent.host;

import java.util.List;
import java.util.TreeSet;

/**
 * The node ports of every NodePort Service this node serves (a CDI event fired by the Service feature after each
 * sync): the whole list, sorted, so a missed event is repaired by the next one and an unchanged list is recognised.
 */
public record NodePortsChanged(List<NodePortSteering.NodePort> nodePorts) {

    public NodePortsChanged {
        nodePorts = List.copyOf(new TreeSet<>(nodePorts));
    }
}
