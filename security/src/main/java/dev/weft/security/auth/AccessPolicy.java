package dev.weft.security.auth;

import java.util.Map;
import java.util.Set;

/**
 * Which gRPC method needs what: services answered without a token ({@code grpc.health.v1.Health} only, so that
 * probes and load balancers work), a rule per full method name ({@code package.Service/Method}) and the rule of every
 * other method (reflection included).
 */
public record AccessPolicy(Set<String> publicServices, Map<String, AccessRule> methods, AccessRule otherMethods) {

    public static final String HEALTH_SERVICE = "grpc.health.v1.Health";

    public AccessPolicy {
        publicServices = Set.copyOf(publicServices);
        methods = Map.copyOf(methods);
    }

    public boolean isPublic(String fullMethodName) {
        int slash = fullMethodName.lastIndexOf('/');
        return slash > 0 && publicServices.contains(fullMethodName.substring(0, slash));
    }

    public AccessRule rule(String fullMethodName) {
        return methods.getOrDefault(fullMethodName, otherMethods);
    }
}
