package dev.weft.localcluster;

import java.util.List;

/** The running local cluster, as written to cluster.json by {@code up} and read by every other verb and process. */
record ClusterState(String id, String home, String apiUrl, int ipamPort, int policyPort, String underlayNetns,
                    String underlayCidr, String clusterCidr, List<NodeState> nodes) {

    NodeState node(String name) {
        return nodes.stream().filter(n -> n.name().equals(name)).findFirst()
                .orElseThrow(() -> new UserError("no node " + name + "; nodes: "
                        + String.join(", ", nodes.stream().map(NodeState::name).toList())));
    }

    /** One simulated node: its netns, underlay address, Open vSwitch instance and agent. */
    record NodeState(String name, String netns, String ip, String underlayMac, String brPhyMac, String ovsRunDir,
                     int agentPort, String agentStateDir, String cniSocket, String cniConfDir, String cniBinDir) {
    }
}
