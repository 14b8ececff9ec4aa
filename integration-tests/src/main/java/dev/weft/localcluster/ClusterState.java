package dev.weft.localcluster;

import java.util.List;

/**
 * The running local cluster, as written to cluster.json by {@code up} and read by every other verb and process.
 * {@code outside} is the host standing for the world outside the cluster (null in the state of an older {@code up});
 * {@code serviceCidr} is where Services' cluster IPs come from (null in an older state: {@link ServiceAdmission#DEFAULT_SERVICE_CIDR}).
 * {@code apiNodeUrl} is the API server as the node namespaces (and the pods' containers on them) reach it.
 * The system pods run as podman containers ({@link PodmanKubelet}); the control plane is found through its Services'
 * EndpointSlices, as the agents find it.
 */
@com.fasterxml.jackson.annotation.JsonIgnoreProperties(ignoreUnknown = true) // the state of an older up: down still reads it
record ClusterState(String id, String home, String apiUrl, String underlayNetns,
                    String underlayCidr, String clusterCidr, List<NodeState> nodes, HostState outside, String serviceCidr,
                    String apiNodeUrl) {

    NodeState node(String name) {
        return nodes.stream().filter(n -> n.name().equals(name)).findFirst()
                .orElseThrow(() -> new UserError("no node " + name + "; nodes: "
                        + String.join(", ", nodes.stream().map(NodeState::name).toList())));
    }

    /**
     * One simulated node: its netns and underlay address; where its pods' hostPath volumes put Open vSwitch's sockets
     * ({@code ovsRunDir}), the agent's state and the CNI socket, configuration and plugin; the agent's port on its IP.
     */
    record NodeState(String name, String netns, String ip, String underlayMac, String brPhyMac, String ovsRunDir,
                     int agentPort, String agentStateDir, String cniSocket, String cniConfDir, String cniBinDir) {
    }

    /**
     * A host on the underlay that is not a node: its own netns with {@code eth0} in the underlay bridge, an address on
     * the underlay subnet outside every cluster CIDR, and no route to any pod CIDR.
     */
    record HostState(String name, String netns, String ip, String mac) {
    }
}
