package dev.weft.policy;

import io.fabric8.kubernetes.api.model.ContainerPortBuilder;
import io.fabric8.kubernetes.api.model.IntOrString;
import io.fabric8.kubernetes.api.model.LabelSelector;
import io.fabric8.kubernetes.api.model.LabelSelectorBuilder;
import io.fabric8.kubernetes.api.model.LabelSelectorRequirement;
import io.fabric8.kubernetes.api.model.Namespace;
import io.fabric8.kubernetes.api.model.NamespaceBuilder;
import io.fabric8.kubernetes.api.model.Pod;
import io.fabric8.kubernetes.api.model.PodBuilder;
import io.fabric8.kubernetes.api.model.networking.v1.NetworkPolicy;
import io.fabric8.kubernetes.api.model.networking.v1.NetworkPolicyBuilder;
import io.fabric8.kubernetes.api.model.networking.v1.NetworkPolicyPeer;
import io.fabric8.kubernetes.api.model.networking.v1.NetworkPolicyPeerBuilder;
import io.fabric8.kubernetes.api.model.networking.v1.NetworkPolicyPort;
import io.fabric8.kubernetes.api.model.networking.v1.NetworkPolicyPortBuilder;

import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.UUID;

/** Builders for the Kubernetes objects tests and the benchmark feed in. */
public final class K8s {

    private K8s() {
    }

    /** "k=v,k2=v2" to a label map. */
    public static Map<String, String> labels(String spec) {
        Map<String, String> m = new LinkedHashMap<>();
        if (spec != null && !spec.isEmpty()) {
            for (String kv : spec.split(",")) {
                String[] p = kv.split("=", 2);
                m.put(p[0], p[1]);
            }
        }
        return m;
    }

    public static Namespace namespace(String name, String labels) {
        return new NamespaceBuilder().withNewMetadata().withName(name).withUid(UUID.randomUUID().toString())
                .withLabels(labels(labels)).endMetadata().build();
    }

    /** A running pod; node and ip may be null (not scheduled / no IP yet). */
    public static Pod pod(String ns, String name, String labels, String node, String ip) {
        PodBuilder b = new PodBuilder().withNewMetadata().withNamespace(ns).withName(name)
                .withUid(UUID.randomUUID().toString()).withLabels(labels(labels)).endMetadata()
                .withNewSpec().withNodeName(node).addNewContainer().withName("c").withImage("img")
                .withPorts(new ContainerPortBuilder().withName("http").withContainerPort(8080).withProtocol("TCP").build())
                .endContainer().endSpec()
                .withNewStatus().withPhase("Running").endStatus();
        if (ip != null) {
            b.editStatus().withPodIP(ip).addNewPodIP().withIp(ip).endPodIP().endStatus();
        }
        return b.build();
    }

    public static LabelSelector sel(String matchLabels) {
        return new LabelSelectorBuilder().withMatchLabels(labels(matchLabels)).build();
    }

    public static LabelSelector expr(String key, String op, String... values) {
        return new LabelSelectorBuilder().withMatchExpressions(
                new LabelSelectorRequirement(key, op, values.length == 0 ? null : List.of(values))).build();
    }

    public static NetworkPolicyPeer podPeer(LabelSelector pods) {
        return new NetworkPolicyPeerBuilder().withPodSelector(pods).build();
    }

    public static NetworkPolicyPeer nsPeer(LabelSelector namespaces, LabelSelector pods) {
        return new NetworkPolicyPeerBuilder().withNamespaceSelector(namespaces).withPodSelector(pods).build();
    }

    public static NetworkPolicyPeer ipPeer(String cidr, String... except) {
        return new NetworkPolicyPeerBuilder().withNewIpBlock().withCidr(cidr).withExcept(except).endIpBlock().build();
    }

    public static NetworkPolicyPort port(String protocol, Object port, Integer endPort) {
        NetworkPolicyPortBuilder b = new NetworkPolicyPortBuilder().withProtocol(protocol).withEndPort(endPort);
        if (port instanceof Integer i) {
            b.withPort(new IntOrString(i));
        } else if (port instanceof String s) {
            b.withPort(new IntOrString(s));
        }
        return b.build();
    }

    /** A policy with one ingress rule (from / ports may be empty: any). */
    public static NetworkPolicy ingressPolicy(String ns, String name, LabelSelector appliedTo, List<NetworkPolicyPeer> from,
                                              List<NetworkPolicyPort> ports) {
        return new NetworkPolicyBuilder().withNewMetadata().withNamespace(ns).withName(name)
                .withUid(UUID.randomUUID().toString()).withGeneration(1L).endMetadata()
                .withNewSpec().withPodSelector(appliedTo)
                .addNewIngress().withFrom(from).withPorts(ports).endIngress()
                .endSpec().build();
    }

    /** Default deny: empty pod selector, no rules. */
    public static NetworkPolicy denyAll(String ns, String name) {
        return new NetworkPolicyBuilder().withNewMetadata().withNamespace(ns).withName(name)
                .withUid(UUID.randomUUID().toString()).withGeneration(1L).endMetadata()
                .withNewSpec().withPodSelector(new LabelSelector()).endSpec().build();
    }
}
