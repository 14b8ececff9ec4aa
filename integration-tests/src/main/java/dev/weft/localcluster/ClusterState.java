package dev.weft.localcluster;

import java.util.List;

/**
 * The running local cluster, as written to cluster.json by {@code up} and read by every other verb and process.
 * {@code outside} is the host standing for the world outside the cluster (null in the state of an older {@code up});
 * {@code serviceCidr} is where Services' cluster IPs come from (null in an older state: {@link ServiceAdmission#DEFAULT_SERVICE_CIDR}).
 * {@code runtime} is how the system pods run: {@code process} (null: JVM processes started by the local cluster) or
 * {@code podman} (the bundle's pods as podman containers, {@link PodmanKubelet}); {@code apiNodeUrl} is the API server
 * as the node namespaces reach it (podman runtime only, else null).
 */
record ClusterState(String id, String home, String apiUrl, int ipamPort, int policyPort, String underlayNetns,
                    String underlayCidr, String clusterCidr, List<NodeState> nodes, HostState outside, String serviceCidr,
                    String runtime, String apiNodeUrl) {

    static final String PODMAN = "podman";

    boolean podman() {
        return PODMAN.equals(runtime);
    }

    NodeState node(String name) {
        return nodes.stream().filter(n -> n.name().equals(name)).findFirst()
                .orElseThrow(() -> new UserError("no node " + name + "; nodes: "
                        + String.join(", ", nodes.stream().map(NodeState::name).toList())));
    }

    /** One simulated node: its netns, underlay address, Open vSwitch instance and agent. */
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
