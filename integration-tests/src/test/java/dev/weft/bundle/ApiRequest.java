package dev.weft.bundle;

import java.net.URLDecoder;
import java.nio.charset.StandardCharsets;
import java.util.Arrays;
import java.util.List;
import java.util.Set;

/**
 * One Kubernetes API request in the terms RBAC decides on (the API server's request info): verb, API group,
 * resource and subresource, namespace and name -- or a non-resource path such as /version.
 */
record ApiRequest(String verb, String group, String resource, String subresource, String namespace, String name,
                  String nonResourcePath, String line) {

    private static final Set<String> NAMESPACE_SUBRESOURCES = Set.of("status", "finalize");

    /** {@code method} and {@code pathAndQuery} as the client sent them; {@code line} is kept for messages. */
    static ApiRequest parse(String method, String pathAndQuery, String line) {
        int q = pathAndQuery.indexOf('?');
        String path = q < 0 ? pathAndQuery : pathAndQuery.substring(0, q);
        String query = q < 0 ? "" : pathAndQuery.substring(q + 1);
        List<String> parts = Arrays.stream(path.split("/")).filter(s -> !s.isEmpty())
                .map(s -> URLDecoder.decode(s, StandardCharsets.UTF_8)).toList();
        List<String> rest;
        String group;
        if (parts.size() >= 3 && parts.get(0).equals("api")) {
            group = "";
            rest = parts.subList(2, parts.size());
        } else if (parts.size() >= 4 && parts.get(0).equals("apis")) {
            group = parts.get(1);
            rest = parts.subList(3, parts.size());
        } else {
            return new ApiRequest(method.toLowerCase(), null, null, null, null, null, path, line);
        }
        String namespace = null;
        if (rest.get(0).equals("namespaces") && rest.size() >= 3 && !NAMESPACE_SUBRESOURCES.contains(rest.get(2))) {
            namespace = rest.get(1);
            rest = rest.subList(2, rest.size());
        } else if (rest.get(0).equals("namespaces") && rest.size() >= 2) {
            namespace = rest.get(1); // a Namespace object is in its own namespace, as the API server sees it
        }
        String resource = rest.get(0);
        String name = rest.size() > 1 ? rest.get(1) : null;
        String subresource = rest.size() > 2 ? rest.get(2) : null;
        boolean watch = Arrays.stream(query.split("&")).anyMatch(p -> p.equals("watch=true") || p.equals("watch=1"));
        String verb = switch (method.toUpperCase()) {
            case "GET", "HEAD" -> watch ? "watch" : name == null ? "list" : "get";
            case "POST" -> "create";
            case "PUT" -> "update";
            case "PATCH" -> "patch";
            case "DELETE" -> name == null ? "deletecollection" : "delete";
            default -> method.toLowerCase();
        };
        return new ApiRequest(verb, group, resource, subresource, namespace, name, null, line);
    }

    boolean isResource() {
        return nonResourcePath == null;
    }

    /** "list pods (cluster-wide or all namespaces)", "update nodes/status n1 (...)", "get /version" */
    String describe() {
        return describe(true);
    }

    /** What RBAC decides on, with or without the object's name. */
    String describe(boolean withName) {
        if (!isResource()) {
            return verb + " " + nonResourcePath;
        }
        return verb + " " + (group.isEmpty() ? "" : group + "/") + resource + (subresource == null ? "" : "/" + subresource)
                + (name == null || !withName ? "" : " " + name)
                + (namespace == null ? " (cluster-wide or all namespaces)" : " in namespace " + namespace);
    }
}
