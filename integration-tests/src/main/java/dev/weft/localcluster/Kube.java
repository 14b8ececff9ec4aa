package dev.weft.localcluster;

import io.fabric8.kubernetes.client.Config;
import io.fabric8.kubernetes.client.ConfigBuilder;
import io.fabric8.kubernetes.client.KubernetesClient;
import io.fabric8.kubernetes.client.KubernetesClientBuilder;

/** Clients of the local cluster's API server: plain HTTP on loopback, no kubeconfig, no credentials. */
final class Kube {
    private Kube() {
    }

    static Config config(String url) {
        return new ConfigBuilder(Config.empty())
                .withMasterUrl(url)
                .withNamespace("default")
                .withTrustCerts(true)
                .withRequestTimeout(10_000)
                .withConnectionTimeout(5_000)
                .build();
    }

    static KubernetesClient client(String url) {
        return new KubernetesClientBuilder().withConfig(config(url)).build();
    }
}
