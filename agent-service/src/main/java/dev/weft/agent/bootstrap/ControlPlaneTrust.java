package dev.weft.agent.bootstrap;

import dev.weft.security.tls.ControlPlaneCa;
import dev.weft.security.tls.ReloadableTrustManager;
import dev.weft.security.tls.TlsMaterialException;
import io.fabric8.kubernetes.api.model.ConfigMap;
import io.fabric8.kubernetes.client.KubernetesClient;
import io.fabric8.kubernetes.client.informers.ResourceEventHandler;
import io.fabric8.kubernetes.client.informers.SharedIndexInformer;
import io.quarkus.runtime.ShutdownEvent;
import jakarta.enterprise.event.Observes;
import jakarta.enterprise.inject.Instance;
import jakarta.inject.Inject;
import jakarta.inject.Singleton;
import dev.weft.agent.AgentConfig;
import org.jboss.logging.Logger;

/**
 * What the agent trusts when it dials ipam-service and policy-service: the CA bundle the services publish in the
 * ConfigMap {@code agent.control-plane-tls.ca-config-map} (key ca.crt), read through the API and followed with an
 * informer, as Antrea's agent follows antrea-ca. A new bundle applies to the next TLS handshake; open streams keep
 * the connection they verified.
 */
@Singleton
public class ControlPlaneTrust {

    private static final Logger LOG = Logger.getLogger(ControlPlaneTrust.class);

    private final Instance<KubernetesClient> kubernetes;
    private final String namespace;
    private final String configMap;
    private final ReloadableTrustManager trust;
    private SharedIndexInformer<ConfigMap> informer;

    @Inject
    ControlPlaneTrust(Instance<KubernetesClient> kubernetes, AgentConfig config) {
        this.kubernetes = kubernetes;
        this.namespace = config.controlPlaneTls().caNamespace();
        this.configMap = config.controlPlaneTls().caConfigMap();
        this.trust = new ReloadableTrustManager("ConfigMap " + namespace + "/" + configMap);
    }

    /** The trust manager for the channels; starts following the ConfigMap on first use. */
    public synchronized ReloadableTrustManager trustManager() {
        if (informer == null) {
            informer = kubernetes.get().configMaps().inNamespace(namespace).withName(configMap).runnableInformer(0);
            informer.addEventHandler(new ResourceEventHandler<>() {
                @Override
                public void onAdd(ConfigMap cm) {
                    apply(cm);
                }

                @Override
                public void onUpdate(ConfigMap old, ConfigMap cm) {
                    apply(cm);
                }

                @Override
                public void onDelete(ConfigMap cm, boolean unknownFinalState) {
                    // Keep the last good bundle: a deleted ConfigMap is recreated by the services.
                    LOG.warnf("TLS: ConfigMap %s/%s deleted; keeping the CA bundle read before", namespace,
                            configMap);
                }
            });
            // Not inform(): it fails when the API server is away, and the agent must start (and keep its pods'
            // leases) without it. Until the bundle arrives, handshakes fail with "no CA bundle ... yet".
            informer.exceptionHandler((started, t) -> {
                LOG.debugf("TLS: cannot read ConfigMap %s/%s: %s (retrying)", namespace, configMap, t.toString());
                return true;
            });
            informer.start();
        }
        return trust;
    }

    private void apply(ConfigMap cm) {
        try {
            if (trust.update(ControlPlaneCa.parseBundle(cm, namespace, configMap))) {
                LOG.infof("TLS: control-plane CA bundle from ConfigMap %s/%s: %s", namespace, configMap,
                        trust.authorities().stream().map(c -> c.getSubjectX500Principal().getName()).toList());
            }
        } catch (TlsMaterialException e) {
            // A broken bundle never replaces a good one.
            LOG.errorf("TLS: ignoring the CA bundle: %s", e.getMessage());
        }
    }

    void stop(@Observes ShutdownEvent event) {
        synchronized (this) {
            if (informer != null) {
                informer.close();
            }
        }
    }
}
