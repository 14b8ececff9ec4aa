package dev.weft.ipam;

import io.fabric8.kubernetes.api.model.Node;
import io.fabric8.kubernetes.client.KubernetesClient;
import io.fabric8.kubernetes.client.informers.SharedIndexInformer;
import io.quarkus.runtime.ShutdownEvent;
import io.quarkus.runtime.StartupEvent;
import jakarta.enterprise.context.ApplicationScoped;
import jakarta.enterprise.event.Observes;
import org.jboss.logging.Logger;

import java.util.List;

/**
 * Watches Nodes through a fabric8 informer. The Kubernetes API is IPAM's only durable store: this cache
 * is what the allocator rebuilds from after a restart, and readiness waits for its first full list.
 */
@ApplicationScoped
public class NodeInformer {
    private static final Logger LOG = Logger.getLogger(NodeInformer.class);

    private final KubernetesClient client;
    private volatile SharedIndexInformer<Node> informer;

    NodeInformer(KubernetesClient client) {
        this.client = client;
    }

    void start(@Observes StartupEvent ev) {
        // 0 resync: we react to changes, the periodic resync would only repeat work.
        informer = client.nodes().inform();
        informer.stopped().whenComplete((v, t) -> {
            if (t != null) {
                LOG.errorf(t, "Node informer stopped");
            }
        });
    }

    void stop(@Observes ShutdownEvent ev) {
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
