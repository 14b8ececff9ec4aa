package dev.weft.agent.service;

import java.util.List;
import java.util.Objects;

/**
 * One Service port with the endpoints new connections to it may go to (ready, not terminating, of this node only
 * under {@code internalTrafficPolicy: Local}), sorted, without duplicates. No endpoint: connections are rejected.
 *
 * @param service                {@code namespace/name}, for logs and the CLI
 * @param portName               the Service port's name ("" for a single unnamed port)
 * @param affinityTimeoutSeconds {@code sessionAffinity: ClientIP}'s timeout (1..86400), 0 without session affinity
 */
public record ServicePort(ServicePortKey key, String service, String portName, List<ServiceEndpoint> endpoints,
                          int affinityTimeoutSeconds) {

    /** The most {@code sessionAffinityConfig.clientIP.timeoutSeconds} Kubernetes allows (one day). */
    public static final int MAX_AFFINITY_TIMEOUT_SECONDS = 86400;

    public ServicePort {
        Objects.requireNonNull(key);
        Objects.requireNonNull(service);
        portName = portName == null ? "" : portName;
        endpoints = endpoints.stream().distinct().sorted().toList();
        if (affinityTimeoutSeconds < 0 || affinityTimeoutSeconds > MAX_AFFINITY_TIMEOUT_SECONDS) {
            throw new IllegalArgumentException(service + ": session affinity timeout " + affinityTimeoutSeconds
                    + " out of 1.." + MAX_AFFINITY_TIMEOUT_SECONDS);
        }
    }

    /** A Service port without session affinity. */
    public ServicePort(ServicePortKey key, String service, String portName, List<ServiceEndpoint> endpoints) {
        this(key, service, portName, endpoints, 0);
    }

    /** {@code sessionAffinity: ClientIP}: a client's new connections go to the endpoint its last one went to. */
    public boolean clientIpAffinity() {
        return affinityTimeoutSeconds > 0;
    }
}
