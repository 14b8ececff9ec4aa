package dev.weft.ipam;

import dev.weft.security.auth.AccessPolicy;
import dev.weft.security.auth.AccessRule;
import dev.weft.security.auth.AuthConfig;
import dev.weft.security.auth.AuthInterceptor;
import io.fabric8.kubernetes.client.KubernetesClient;
import io.micrometer.core.instrument.MeterRegistry;
import io.quarkus.grpc.GlobalInterceptor;
import jakarta.annotation.PreDestroy;
import jakarta.inject.Singleton;

import java.util.Map;
import java.util.Set;

/**
 * Caller identity on the IPAM API (docs/security.md): every method is a read-only query, answered for any caller
 * whose pod-bound token the Kubernetes API authenticates for this control plane's audience; gRPC health needs none.
 * Refusals count in {@code weft_ipam_auth_refused_total{reason}}.
 */
@Singleton
@GlobalInterceptor
public class IpamCallerAuth extends AuthInterceptor {

    static final AccessPolicy POLICY = new AccessPolicy(Set.of(AccessPolicy.HEALTH_SERVICE), Map.of(),
            AccessRule.anyCaller());

    IpamCallerAuth(AuthConfig config, KubernetesClient client, MeterRegistry registry) {
        super(config, client, POLICY, registry, "weft.ipam.auth.refused");
    }

    @PreDestroy
    void stop() {
        close();
    }
}
