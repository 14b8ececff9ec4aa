package dev.weft.agent.service;

import dev.weft.agent.AgentConfig;
import dev.weft.agent.host.NodePortsChanged;
import dev.weft.agent.pipeline.DatapathService;
import io.fabric8.kubernetes.client.KubernetesClient;
import io.quarkus.runtime.ShutdownEvent;
import io.quarkus.runtime.StartupEvent;
import jakarta.enterprise.context.ApplicationScoped;
import jakarta.enterprise.event.Event;
import jakarta.enterprise.event.Observes;
import jakarta.enterprise.inject.Instance;
import jakarta.inject.Inject;
import org.jboss.logging.Logger;

/**
 * Wires Services into the agent: registers {@link ServiceFeature} on the datapath and starts the Service and
 * EndpointSlice informers ({@link ServiceWatcher}) on the agent's Kubernetes client.
 */
@ApplicationScoped
public class ServiceAgent {

    private static final Logger LOG = Logger.getLogger(ServiceAgent.class);

    @Inject
    AgentConfig config;

    @Inject
    DatapathService datapath;

    @Inject
    Instance<KubernetesClient> kubernetes;

    @Inject
    Event<NodePortsChanged> nodePortsChanged;

    private volatile ServiceFeature feature;
    private volatile ServiceWatcher watcher;

    void onStart(@Observes StartupEvent e) {
        var dp = datapath.datapath();
        ServiceFeature f = new ServiceFeature(dp);
        dp.register(f);
        feature = f;
        try {
            ServiceWatcher w = new ServiceWatcher(kubernetes.get(), config.resolvedNodeName(), f,
                    np -> nodePortsChanged.fire(new NodePortsChanged(np))).start();
            watcher = w;
            // after every (re)connection: whatever a failed install left undone is retried
            dp.onReady(() -> w.schedule(0));
        } catch (RuntimeException ex) {
            LOG.warnf("no Service informers (Services are not served): %s", ex.getMessage());
        }
    }

    void onStop(@Observes ShutdownEvent e) {
        ServiceWatcher w = watcher;
        if (w != null) {
            w.close();
        }
    }

    public ServiceFeature feature() {
        return feature;
    }
}
