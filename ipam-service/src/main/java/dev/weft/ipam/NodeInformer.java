package dev.weft.ipam;

import io.fabric8.kubernetes.api.model.Node;
import io.fabric8.kubernetes.client.KubernetesClient;
import io.fabric8.kubernetes.client.informers.SharedIndexInformer;
import jakarta.enterprise.context.ApplicationScoped;
import org.jboss.logging.Logger;

import java.util.List;

/**
 * Watches Nodes through a fabric8 informer. The Kubernetes API is IPAM's only durable store: this cache is what the
 * allocator is fed from, and readiness waits for its first full list. Started and stopped by {@link IpamLifecycle}.
 */
@ApplicationScoped
public class NodeInformer {
    private static final Logger LOG = Logger.getLogger(NodeInformer.class);

    private final KubernetesClient client;
    private final InformerRetry retry = new InformerRetry("Node informer");
    private volatile SharedIndexInformer<Node> informer;

    NodeInformer(KubernetesClient client) {
        this.client = client;
    }

    /**
     * Starts the informer without waiting for its first list: the service comes up (and answers liveness) while the API
     * server is away, and the informer keeps trying. Handlers added later still get every Node it already holds.
     */
    synchronized SharedIndexInformer<Node> start() {
        if (informer == null) {
            // 0 resync: we react to changes, the periodic resync would only repeat work.
            SharedIndexInformer<Node> i = client.nodes().runnableInformer(0);
            i.exceptionHandler(retry);
            i.stopped().whenComplete((v, t) -> {
                if (t != null) {
                    LOG.errorf(t, "Node informer stopped");
                }
            });
            informer = i;
            i.start().thenRun(retry::connected);
        }
        return informer;
    }

    synchronized void stop() {
        if (informer != null) {
            informer.close();
        }
    }

    public boolean hasSynced() {
        SharedIndexInformer<Node> i = informer;
        return i != null && i.hasSynced();
    }

    /** Why the Nodes are not (yet) listed: the last failure talking to the API server, or empty. */
    public String notSyncedReason() {
        if (hasSynced()) {
            return "";
        }
        String failure = retry.lastFailure();
        return failure.isEmpty() ? "waiting for the first list of Nodes" : "Kubernetes API unreachable: " + failure;
    }

    public boolean isRunning() {
        SharedIndexInformer<Node> i = informer;
        return i != null && i.isRunning();
    }

    public List<Node> nodes() {
        SharedIndexInformer<Node> i = informer;
        return i == null ? List.of() : i.getStore().list();
    }

    public SharedIndexInformer<Node> informer() {
        return informer;
    }
}
