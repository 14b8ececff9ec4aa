package dev.weft.ipam;

import io.fabric8.kubernetes.client.KubernetesClient;
import io.quarkus.runtime.ShutdownEvent;
import io.quarkus.runtime.StartupEvent;
import jakarta.enterprise.context.ApplicationScoped;
import jakarta.enterprise.event.Observes;
import jakarta.enterprise.inject.Produces;
import jakarta.inject.Singleton;
import org.jboss.logging.Logger;

/**
 * Wires the service: validated settings (an invalid configuration stops start-up with every problem listed), the
 * allocator every query reads, the Node informer, and the controller that allocates while this replica leads.
 */
@ApplicationScoped
public class IpamLifecycle {
    private static final Logger LOG = Logger.getLogger(IpamLifecycle.class);

    private final KubernetesClient client;
    private final NodeInformer nodes;
    private final IpamConfig config;
    private volatile PodCidrController controller;

    IpamLifecycle(KubernetesClient client, NodeInformer nodes, IpamConfig config) {
        this.client = client;
        this.nodes = nodes;
        this.config = config;
    }

    @Produces
    @Singleton
    static IpamSettings settings(IpamConfig config) {
        return IpamSettings.from(config);
    }

    @Produces
    @Singleton
    static NodeCidrAllocator allocator(IpamSettings settings) {
        return new NodeCidrAllocator(settings);
    }

    void start(@Observes StartupEvent ev, NodeCidrAllocator allocator) {
        PodCidrController.Options options = PodCidrController.Options.from(config);
        LOG.infof("IPAM pools: %s; reserved: %s; replica %s", allocator.settings().pools(),
                allocator.settings().reserved(), options.identity());
        controller = new PodCidrController(client, nodes.start(), allocator, options).start();
    }

    void stop(@Observes ShutdownEvent ev) {
        PodCidrController c = controller;
        if (c != null) {
            c.close();
        }
        nodes.stop();
    }

    /** Null before start-up. */
    public PodCidrController controller() {
        return controller;
    }
}
