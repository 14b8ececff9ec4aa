package dev.weft.localcluster;

import io.fabric8.kubernetes.api.model.ContainerPort;
import io.fabric8.kubernetes.api.model.IntOrString;
import io.fabric8.kubernetes.api.model.ObjectReferenceBuilder;
import io.fabric8.kubernetes.api.model.OwnerReferenceBuilder;
import io.fabric8.kubernetes.api.model.Pod;
import io.fabric8.kubernetes.api.model.Service;
import io.fabric8.kubernetes.api.model.ServicePort;
import io.fabric8.kubernetes.api.model.discovery.v1.Endpoint;
import io.fabric8.kubernetes.api.model.discovery.v1.EndpointBuilder;
import io.fabric8.kubernetes.api.model.discovery.v1.EndpointPort;
import io.fabric8.kubernetes.api.model.discovery.v1.EndpointPortBuilder;
import io.fabric8.kubernetes.api.model.discovery.v1.EndpointSlice;
import io.fabric8.kubernetes.api.model.discovery.v1.EndpointSliceBuilder;

import java.nio.charset.StandardCharsets;
import java.util.ArrayList;
import java.util.Comparator;
import java.util.HexFormat;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Objects;

/**
 * What kube-controller-manager's EndpointSlice controller computes, as a pure function: the slices of a Service with a
 * selector, from the pods of its namespace whose labels match it.
 * <ul>
 *   <li>A pod is an endpoint once it has an IP and is not finished (phase Succeeded/Failed); {@code ready} is its Ready
 *   condition (or true with {@code publishNotReadyAddresses}), {@code serving} the same without that override,
 *   {@code terminating} whether it is being deleted (a terminating pod is never ready).</li>
 *   <li>Each Service port's {@code targetPort} is resolved per pod: a number as is, a name through the pod's container
 *   ports of that name and protocol; a pod lacking the name does not serve that port. Pods with the same resolved
 *   ports share slices (at most {@link #MAX_ENDPOINTS} endpoints each), named {@code SERVICE-HASH[-N]} after them.</li>
 *   <li>Labels {@code kubernetes.io/service-name} (what consumers such as the agent select on) and
 *   {@code endpointslice.kubernetes.io/managed-by}; the Service as controlling owner.</li>
 * </ul>
 */
final class EndpointSlices {
    static final String SERVICE_NAME_LABEL = "kubernetes.io/service-name";
    static final String MANAGED_BY_LABEL = "endpointslice.kubernetes.io/managed-by";
    /** Slices the cluster-controller owns (and may replace or delete); any other slice is left alone. */
    static final String MANAGED_BY = "endpointslice-controller.k8s.io";
    /** The kubernetes Service's slice, written once by {@code up}, as kube-apiserver maintains its own. */
    static final String MANAGED_BY_APISERVER = "localcluster-apiserver";
    static final int MAX_ENDPOINTS = 100;

    private EndpointSlices() {
    }

    /** The slices the controller wants for {@code svc} (none for a Service without selector or of type ExternalName). */
    static List<EndpointSlice> desired(Service svc, List<Pod> podsOfNamespace) {
        var spec = svc.getSpec();
        if (spec == null || spec.getSelector() == null || spec.getSelector().isEmpty() || "ExternalName".equals(spec.getType())) {
            return List.of();
        }
        List<ServicePort> servicePorts = spec.getPorts() == null ? List.of() : spec.getPorts();
        boolean publishNotReady = Boolean.TRUE.equals(spec.getPublishNotReadyAddresses());
        // Resolved port set -> its endpoints, in a stable order (pods sorted by name).
        Map<List<EndpointPort>, List<Endpoint>> groups = new LinkedHashMap<>();
        List<Pod> pods = new ArrayList<>(podsOfNamespace);
        pods.sort(Comparator.comparing(p -> p.getMetadata().getName()));
        for (Pod pod : pods) {
            if (!selects(spec.getSelector(), pod) || !Objects.equals(pod.getMetadata().getNamespace(), svc.getMetadata().getNamespace())) {
                continue;
            }
            String ip = pod.getStatus() == null ? null : pod.getStatus().getPodIP();
            String phase = pod.getStatus() == null ? null : pod.getStatus().getPhase();
            if (ip == null || ip.isBlank() || "Succeeded".equals(phase) || "Failed".equals(phase)) {
                continue;
            }
            List<EndpointPort> ports = new ArrayList<>();
            for (ServicePort sp : servicePorts) {
                Integer target = resolveTargetPort(sp, pod);
                if (target != null) {
                    ports.add(new EndpointPortBuilder().withName(sp.getName() == null ? "" : sp.getName())
                            .withProtocol(sp.getProtocol() == null ? "TCP" : sp.getProtocol()).withPort(target).build());
                }
            }
            if (!servicePorts.isEmpty() && ports.isEmpty()) {
                continue; // serves none of the Service's ports
            }
            boolean terminating = pod.getMetadata().getDeletionTimestamp() != null;
            boolean podReady = podReady(pod);
            Endpoint e = new EndpointBuilder().withAddresses(ip)
                    .withNewConditions().withReady((publishNotReady || podReady) && !terminating).withServing(podReady)
                    .withTerminating(terminating).endConditions()
                    .withNodeName(pod.getSpec() == null ? null : pod.getSpec().getNodeName())
                    .withTargetRef(new ObjectReferenceBuilder().withKind("Pod").withNamespace(pod.getMetadata().getNamespace())
                            .withName(pod.getMetadata().getName()).withUid(pod.getMetadata().getUid()).build())
                    .build();
            groups.computeIfAbsent(ports, k -> new ArrayList<>()).add(e);
        }
        List<EndpointSlice> slices = new ArrayList<>();
        String service = svc.getMetadata().getName();
        if (groups.isEmpty()) {
            // Upstream keeps one empty slice per Service, so consumers see "no endpoints" rather than nothing.
            slices.add(slice(svc, service + "-" + hash(List.of()), List.of(), List.of()));
        }
        for (var g : groups.entrySet()) {
            String base = service + "-" + hash(g.getKey());
            List<Endpoint> endpoints = g.getValue();
            for (int i = 0; i < endpoints.size(); i += MAX_ENDPOINTS) {
                slices.add(slice(svc, i == 0 ? base : base + "-" + (i / MAX_ENDPOINTS),
                        g.getKey(), endpoints.subList(i, Math.min(endpoints.size(), i + MAX_ENDPOINTS))));
            }
        }
        return slices;
    }

    private static EndpointSlice slice(Service svc, String name, List<EndpointPort> ports, List<Endpoint> endpoints) {
        return new EndpointSliceBuilder().withNewMetadata().withName(name).withNamespace(svc.getMetadata().getNamespace())
                .addToLabels(SERVICE_NAME_LABEL, svc.getMetadata().getName()).addToLabels(MANAGED_BY_LABEL, MANAGED_BY)
                .withOwnerReferences(new OwnerReferenceBuilder().withApiVersion("v1").withKind("Service")
                        .withName(svc.getMetadata().getName()).withUid(svc.getMetadata().getUid()).withController(true)
                        .withBlockOwnerDeletion(true).build())
                .endMetadata()
                .withAddressType("IPv4").withPorts(new ArrayList<>(ports)).withEndpoints(new ArrayList<>(endpoints)).build();
    }

    /** The slice of the {@code kubernetes} Service: the API server's address and port as the agents reach it. */
    static EndpointSlice kubernetesSlice(String apiHost, int apiPort) {
        return new EndpointSliceBuilder().withNewMetadata().withName("kubernetes").withNamespace("default")
                .addToLabels(SERVICE_NAME_LABEL, "kubernetes").addToLabels(MANAGED_BY_LABEL, MANAGED_BY_APISERVER).endMetadata()
                .withAddressType("IPv4")
                .withPorts(new EndpointPortBuilder().withName("https").withProtocol("TCP").withPort(apiPort).build())
                .withEndpoints(new EndpointBuilder().withAddresses(apiHost).withNewConditions().withReady(true).withServing(true)
                        .withTerminating(false).endConditions().build())
                .build();
    }

    /** The port number a Service port reaches on this pod, or null when the pod has no container port of that name. */
    static Integer resolveTargetPort(ServicePort sp, Pod pod) {
        IntOrString t = sp.getTargetPort();
        if (t == null) {
            return sp.getPort();
        }
        if (t.getIntVal() != null) {
            return t.getIntVal();
        }
        String protocol = sp.getProtocol() == null ? "TCP" : sp.getProtocol();
        if (pod.getSpec() == null || pod.getSpec().getContainers() == null) {
            return null;
        }
        for (var c : pod.getSpec().getContainers()) {
            for (ContainerPort cp : c.getPorts() == null ? List.<ContainerPort>of() : c.getPorts()) {
                if (t.getStrVal().equals(cp.getName()) && protocol.equals(cp.getProtocol() == null ? "TCP" : cp.getProtocol())) {
                    return cp.getContainerPort();
                }
            }
        }
        return null;
    }

    static boolean selects(Map<String, String> selector, Pod pod) {
        Map<String, String> labels = pod.getMetadata().getLabels() == null ? Map.of() : pod.getMetadata().getLabels();
        return selector.entrySet().stream().allMatch(e -> e.getValue().equals(labels.get(e.getKey())));
    }

    static boolean podReady(Pod pod) {
        return pod.getStatus() != null && pod.getStatus().getConditions() != null && pod.getStatus().getConditions().stream()
                .anyMatch(c -> "Ready".equals(c.getType()) && "True".equals(c.getStatus()));
    }

    /** Whether a stored slice already says what a desired one says (labels, owner aside from uid order, ports, endpoints). */
    static boolean same(EndpointSlice stored, EndpointSlice desired) {
        return Objects.equals(stored.getMetadata().getLabels(), desired.getMetadata().getLabels())
                && Objects.equals(stored.getAddressType(), desired.getAddressType())
                && Objects.equals(nullToEmpty(stored.getPorts()), nullToEmpty(desired.getPorts()))
                && Objects.equals(nullToEmpty(stored.getEndpoints()), nullToEmpty(desired.getEndpoints()));
    }

    private static <T> List<T> nullToEmpty(List<T> l) {
        return l == null ? List.of() : l;
    }

    private static String hash(List<EndpointPort> ports) {
        StringBuilder sb = new StringBuilder();
        ports.forEach(p -> sb.append(p.getName()).append('/').append(p.getProtocol()).append('/').append(p.getPort()).append(';'));
        try {
            byte[] d = java.security.MessageDigest.getInstance("SHA-256").digest(sb.toString().getBytes(StandardCharsets.UTF_8));
            return HexFormat.of().formatHex(d).substring(0, 5);
        } catch (java.security.NoSuchAlgorithmException e) {
            throw new IllegalStateException(e);
        }
    }
}
