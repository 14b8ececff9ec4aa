package dev.weft.agent.node;

/**
 * What the CNI server asks of the datapath. Implemented by the OpenFlow pipeline; called by the CNI server after it
 * plumbed (ADD) or before it unplumbs (DEL) a pod, and once the node's gateway is up. Calls are idempotent: a replay
 * after an agent restart installs nothing twice.
 */
public interface PodDatapath {

    /** The node's gateway and CIDRs are in place: install the node-level flows. */
    void nodeNetworkReady(NodeNetwork node) throws DatapathException;

    /** Installs the pod's forwarding (classification, spoof guard, ARP, L3/L2, output) and applies policy to it. */
    void podAdded(PodInterface pod) throws DatapathException;

    /** Removes every flow of the pod. */
    void podRemoved(PodInterface pod) throws DatapathException;

    /** True when the pod's flows are installed (CNI CHECK). */
    boolean podInstalled(PodInterface pod);

    /**
     * Runs {@code check} after each (re)connection to the switch, once the stored flows are replayed and before the
     * switch is let forward (flow-restore-wait cleared): where the CNI server re-reads the pods' OpenFlow ports, which
     * an ovs-vswitchd restart can renumber.
     */
    default void beforeForwarding(Runnable check) {
    }

    /**
     * The CNI server reconciled its attachments after an agent start and replayed every live pod's flows: one of the
     * things the previous run's flows wait for before they are deleted.
     */
    default void podsReconciled() {
    }

    class DatapathException extends Exception {
        public DatapathException(String message, Throwable cause) {
            super(message, cause);
        }

        public DatapathException(String message) {
            super(message);
        }
    }
}
