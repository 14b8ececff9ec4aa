package dev.weft.localcluster;

import io.fabric8.kubernetes.api.model.HasMetadata;
import io.fabric8.kubernetes.api.model.Namespace;
import io.fabric8.kubernetes.api.model.Node;
import io.fabric8.kubernetes.api.model.Pod;
import io.fabric8.kubernetes.api.model.Service;
import io.fabric8.kubernetes.api.model.discovery.v1.EndpointSlice;
import io.fabric8.kubernetes.api.model.apps.Deployment;
import io.fabric8.kubernetes.api.model.networking.v1.NetworkPolicy;

import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.stream.Collectors;

/** kubectl-like tables for {@code get}. */
final class Tables {
    private Tables() {
    }

    static String render(String kind, List<HasMetadata> items, boolean wide, boolean allNamespaces) {
        List<String> header = new ArrayList<>();
        List<List<String>> rows = new ArrayList<>();
        if (allNamespaces && !kind.equals("nodes") && !kind.equals("namespaces")) {
            header.add("NAMESPACE");
        }
        switch (kind) {
            case "pods" -> {
                header.addAll(List.of("NAME", "READY", "STATUS", "RESTARTS", "AGE"));
                if (wide) header.addAll(List.of("IP", "NODE"));
            }
            case "nodes" -> {
                header.addAll(List.of("NAME", "STATUS", "ROLES", "AGE", "VERSION"));
                if (wide) header.addAll(List.of("INTERNAL-IP", "POD-CIDR"));
            }
            case "networkpolicies" -> {
                header.addAll(List.of("NAME", "POD-SELECTOR", "AGE"));
                if (wide) header.add("REALIZATION");
            }
            case "deployments" -> {
                header.addAll(List.of("NAME", "READY", "UP-TO-DATE", "AVAILABLE", "AGE"));
                if (wide) header.add("SELECTOR");
            }
            case "namespaces" -> {
                header.addAll(List.of("NAME", "STATUS", "AGE"));
                if (wide) header.add("LABELS");
            }
            case "services" -> {
                header.addAll(List.of("NAME", "TYPE", "CLUSTER-IP", "EXTERNAL-IP", "PORT(S)", "AGE"));
                if (wide) header.add("SELECTOR");
            }
            case "endpointslices" -> header.addAll(List.of("NAME", "ADDRESSTYPE", "PORTS", "ENDPOINTS", "AGE"));
            default -> throw new UserError("no table for " + kind);
        }
        for (HasMetadata h : items) {
            List<String> row = new ArrayList<>();
            if (allNamespaces && !kind.equals("nodes") && !kind.equals("namespaces")) {
                row.add(h.getMetadata().getNamespace());
            }
            String age = Verbs.age(h.getMetadata().getCreationTimestamp());
            switch (h) {
                case Pod p -> {
                    String phase = p.getStatus() == null || p.getStatus().getPhase() == null ? "Pending" : p.getStatus().getPhase();
                    int n = p.getSpec().getContainers().size();
                    row.addAll(List.of(p.getMetadata().getName(), (phase.equals("Running") ? n : 0) + "/" + n,
                            phase.equals("Pending") && p.getStatus() != null && p.getStatus().getReason() != null ? p.getStatus().getReason() : phase,
                            "0", age));
                    if (wide) {
                        row.add(p.getStatus() == null || p.getStatus().getPodIP() == null ? "<none>" : p.getStatus().getPodIP());
                        row.add(p.getSpec().getNodeName() == null ? "<none>" : p.getSpec().getNodeName());
                    }
                }
                case Node n -> {
                    row.addAll(List.of(n.getMetadata().getName(), "Ready", "<none>", age, "v1.32.0-weft"));
                    if (wide) {
                        row.add(n.getStatus() == null ? "<none>" : n.getStatus().getAddresses().stream()
                                .filter(a -> a.getType().equals("InternalIP")).map(a -> a.getAddress()).findFirst().orElse("<none>"));
                        row.add(n.getSpec() == null || n.getSpec().getPodCIDR() == null ? "<none>" : n.getSpec().getPodCIDR());
                    }
                }
                case NetworkPolicy np -> {
                    row.addAll(List.of(np.getMetadata().getName(), selector(np.getSpec().getPodSelector() == null ? null
                            : np.getSpec().getPodSelector().getMatchLabels()), age));
                    if (wide) {
                        Map<String, String> ann = np.getMetadata().getAnnotations();
                        row.add(ann == null ? "<none>" : ann.entrySet().stream().filter(e -> e.getKey().startsWith("weft.dev/realization"))
                                .map(Map.Entry::getValue).collect(Collectors.joining(" ")));
                    }
                }
                case Deployment d -> {
                    int desired = d.getSpec().getReplicas() == null ? 1 : d.getSpec().getReplicas();
                    var s = d.getStatus();
                    int ready = s == null || s.getReadyReplicas() == null ? 0 : s.getReadyReplicas();
                    row.addAll(List.of(d.getMetadata().getName(), ready + "/" + desired,
                            String.valueOf(s == null || s.getUpdatedReplicas() == null ? 0 : s.getUpdatedReplicas()),
                            String.valueOf(s == null || s.getAvailableReplicas() == null ? 0 : s.getAvailableReplicas()), age));
                    if (wide) row.add(selector(d.getSpec().getSelector().getMatchLabels()));
                }
                case Namespace ns -> {
                    row.addAll(List.of(ns.getMetadata().getName(), "Active", age));
                    if (wide) row.add(selector(ns.getMetadata().getLabels()));
                }
                case Service svc -> {
                    row.addAll(serviceColumns(svc));
                    row.add(age);
                    if (wide) row.add(selector(svc.getSpec().getSelector()));
                }
                case EndpointSlice es -> {
                    row.addAll(List.of(es.getMetadata().getName(), String.valueOf(es.getAddressType()), slicePorts(es), sliceEndpoints(es), age));
                }
                default -> {
                }
            }
            rows.add(row);
        }
        return format(header, rows);
    }

    /** kubectl's NAME TYPE CLUSTER-IP EXTERNAL-IP PORT(S), PORT(S) as {@code 80/TCP} or {@code 80:31234/TCP}. */
    static List<String> serviceColumns(Service svc) {
        var spec = svc.getSpec();
        String type = spec.getType() == null ? "ClusterIP" : spec.getType();
        String clusterIp = spec.getClusterIP() == null || spec.getClusterIP().isBlank() ? "<none>" : spec.getClusterIP();
        String external = switch (type) {
            case "ExternalName" -> spec.getExternalName();
            case "LoadBalancer" -> "<pending>";
            default -> spec.getExternalIPs() == null || spec.getExternalIPs().isEmpty() ? "<none>" : String.join(",", spec.getExternalIPs());
        };
        String ports = spec.getPorts() == null || spec.getPorts().isEmpty() ? "<none>" : spec.getPorts().stream()
                .map(p -> p.getPort() + (p.getNodePort() == null || p.getNodePort() == 0 ? "" : ":" + p.getNodePort()) + "/" + p.getProtocol())
                .collect(Collectors.joining(","));
        return List.of(svc.getMetadata().getName(), type, clusterIp, external, ports);
    }

    private static String slicePorts(EndpointSlice es) {
        return es.getPorts() == null || es.getPorts().isEmpty() ? "<unset>"
                : es.getPorts().stream().map(p -> String.valueOf(p.getPort())).collect(Collectors.joining(","));
    }

    /** kubectl's ENDPOINTS column: up to three addresses, then "+ N more...". */
    private static String sliceEndpoints(EndpointSlice es) {
        List<String> addresses = es.getEndpoints() == null ? List.of() : es.getEndpoints().stream()
                .flatMap(e -> e.getAddresses().stream()).toList();
        if (addresses.isEmpty()) {
            return "<unset>";
        }
        String shown = String.join(",", addresses.subList(0, Math.min(3, addresses.size())));
        return addresses.size() > 3 ? shown + " + " + (addresses.size() - 3) + " more..." : shown;
    }

    private static String selector(Map<String, String> labels) {
        if (labels == null || labels.isEmpty()) {
            return "<none>";
        }
        return labels.entrySet().stream().map(e -> e.getKey() + "=" + e.getValue()).collect(Collectors.joining(","));
    }

    static String format(List<String> header, List<List<String>> rows) {
        int[] widths = new int[header.size()];
        for (int i = 0; i < header.size(); i++) {
            widths[i] = header.get(i).length();
            for (List<String> r : rows) {
                widths[i] = Math.max(widths[i], r.get(i).length());
            }
        }
        StringBuilder sb = new StringBuilder();
        List<List<String>> all = new ArrayList<>();
        all.add(header);
        all.addAll(rows);
        for (List<String> r : all) {
            for (int i = 0; i < r.size(); i++) {
                sb.append(i == r.size() - 1 ? r.get(i) : String.format("%-" + (widths[i] + 3) + "s", r.get(i)));
            }
            sb.append('\n');
        }
        return sb.toString();
    }
}
