package dev.weft.agent.ipam;

/**
 * One address handed to one pod interface. The owner key is (containerId, ifName), as CNI identifies an attachment;
 * namespace/name are kept to reconcile with the Kubernetes API.
 */
public record IpLease(String ip, String containerId, String ifName, String namespace, String name, long createdMillis) {

    public boolean ownedBy(String containerId, String ifName) {
        return this.containerId.equals(containerId) && this.ifName.equals(ifName);
    }
}
