package dev.weft.agent.service;

import java.util.List;
import java.util.Objects;

/**
 * One Service port with the endpoints new connections to it may go to (ready, not terminating, of this node only
 * under {@code internalTrafficPolicy: Local}), sorted, without duplicates. No endpoint: connections are rejected.
 *
 * @param service  {@code namespace/name}, for logs and the CLI
 * @param portName the Service port's name ("" for a single unnamed port)
 */
public record ServicePort(ServicePortKey key, String service, String portName, List<ServiceEndpoint> endpoints) {

    public ServicePort {
        Objects.requireNonNull(key);
        Objects.requireNonNull(service);
        portName = portName == null ? "" : portName;
        endpoints = endpoints.stream().distinct().sorted().toList();
    }
}
