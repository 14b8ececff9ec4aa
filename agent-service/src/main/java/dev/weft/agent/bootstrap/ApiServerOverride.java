package dev.weft.agent.bootstrap;

import dev.weft.agent.AgentConfig;
import io.fabric8.kubernetes.client.Config;
import io.quarkus.kubernetes.client.KubernetesConfigCustomizer;
import io.quarkus.runtime.Startup;
import jakarta.inject.Inject;
import jakarta.inject.Singleton;
import org.jboss.logging.Logger;

import java.net.URI;
import java.net.URISyntaxException;
import java.util.Optional;

/**
 * The agent's API-server override (Antrea's {@code kubeAPIServerOverride}). In a pod the Kubernetes client finds the
 * API server through the {@code kubernetes} Service's cluster IP, which only a Service proxy makes reachable -- and a
 * CNI agent has to run before anything on the node can rely on one. {@code agent.kube-api-server-override} (the
 * bundle's ConfigMap key {@code AGENT_KUBE_API_SERVER_OVERRIDE}) names the API server directly, e.g.
 * {@code https://192.168.1.10:6443}; the service account's token and CA are still used. Created at start-up, so a
 * malformed value stops the agent with a message naming the key instead of failing its first API call.
 */
@Startup
@Singleton
public class ApiServerOverride implements KubernetesConfigCustomizer {

    private static final Logger LOG = Logger.getLogger(ApiServerOverride.class);
    static final String KEY = "agent.kube-api-server-override";

    private final Optional<String> override;

    @Inject
    ApiServerOverride(AgentConfig config) {
        this(config.kubeApiServerOverride());
    }

    ApiServerOverride(Optional<String> override) {
        this.override = override.map(String::strip).filter(s -> !s.isEmpty()).map(ApiServerOverride::validate);
    }

    @Override
    public void customize(Config config) {
        override.ifPresent(url -> {
            LOG.infof("Kubernetes API server %s (%s; instead of %s)", url, KEY, config.getMasterUrl());
            config.setMasterUrl(url);
        });
    }

    /** An absolute http(s) URL with a host and nothing after the authority but an optional path; else a clear error. */
    static String validate(String url) {
        if (!url.contains("://")) {
            throw new IllegalArgumentException(KEY + "=" + url + " must be a URL such as https://192.168.1.10:6443");
        }
        URI uri;
        try {
            uri = new URI(url);
        } catch (URISyntaxException e) {
            throw new IllegalArgumentException(KEY + "=" + url + " is not a URL: " + e.getMessage(), e);
        }
        if (!"https".equals(uri.getScheme()) && !"http".equals(uri.getScheme())) {
            throw new IllegalArgumentException(KEY + "=" + url + " must start with https:// (or http://)");
        }
        if (uri.getHost() == null || uri.getHost().isEmpty()) {
            throw new IllegalArgumentException(KEY + "=" + url + " names no host (expected e.g. https://192.168.1.10:6443)");
        }
        if (uri.getQuery() != null || uri.getFragment() != null || uri.getUserInfo() != null) {
            throw new IllegalArgumentException(KEY + "=" + url + " must be scheme://host[:port][/path] only");
        }
        return url;
    }
}
