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
    private volatile SharedIndexInformer<Node> informer;

    NodeInformer(KubernetesClient client) {
        this.client = client;
    }

    /** Starts the informer; handlers added later still get every Node it already holds. */
    synchronized SharedIndexInformer<Node> start() {
        if (informer == null) {
            // 0 resync: we react to changes, the periodic resync would only repeat work.
            informer = client.nodes().inform();
            informer.stopped().whenComplete((v, t) -> {
                if (t != null) {
                    LOG.errorf(t, "Node informer stopped");
                }
            });
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
