package dev.weft.localcluster;

import java.util.List;

/**
 * The kubelet's record of a pod it started (pods/NS_NAME.json): enough to probe it and to tear it down after a restart.
 * {@code cniAddMicros} is how long the CNI ADD took, plugin exec to result (the pod-start benchmark reads it).
 */
record PodRecord(String namespace, String name, String uid, String node, String netns, String containerId, String ip,
                 String mac, long responderPid, String controlSocket, List<Integer> tcpPorts, List<Integer> udpPorts,
                 String cniResult, long cniAddMicros) {

    String key() {
        return namespace + "/" + name;
    }

    static String fileName(String namespace, String name) {
        return namespace + "_" + name + ".json";
    }
}
