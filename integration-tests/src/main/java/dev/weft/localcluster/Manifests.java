package dev.weft.localcluster;

import io.fabric8.kubernetes.api.model.HasMetadata;
import io.fabric8.kubernetes.api.model.Namespace;
import io.fabric8.kubernetes.api.model.Pod;
import io.fabric8.kubernetes.api.model.Service;
import dev.weft.net.IpPrefix;
import io.fabric8.kubernetes.api.model.apps.Deployment;
import io.fabric8.kubernetes.api.model.networking.v1.NetworkPolicy;
import io.fabric8.kubernetes.client.KubernetesClient;
import io.fabric8.kubernetes.client.KubernetesClientException;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Comparator;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import java.util.Set;
import java.util.stream.Stream;

/**
 * {@code apply} and {@code delete -f}: manifest files (YAML or JSON, every shape {@link ManifestDocuments} reads) or
 * directories of them, with kubectl's semantics as far as
 * the local cluster needs: every document is parsed and validated before anything is written (bad input loses nothing);
 * an existing NetworkPolicy or Deployment is replaced entirely, an existing Pod or Namespace keeps running (and its IP)
 * while its labels and annotations change.
 */
final class Manifests {
    static final Set<String> KINDS = Set.of("Namespace", "Pod", "Deployment", "NetworkPolicy", "Service");

    record Applied(HasMetadata object, String action) {
        String describe() {
            return object.getKind().toLowerCase() + "/" + object.getMetadata().getName() + " " + action;
        }
    }

    private Manifests() {
    }

    static List<HasMetadata> load(KubernetesClient client, List<String> paths) {
        if (paths.isEmpty()) {
            throw new UserError("missing -f FILE|DIR");
        }
        List<Path> files = new ArrayList<>();
        for (String p : paths) {
            Path path = Path.of(p);
            if (Files.isDirectory(path)) {
                try (Stream<Path> s = Files.list(path)) {
                    s.filter(f -> f.toString().matches(".*\\.(ya?ml|json)$")).sorted().forEach(files::add);
                } catch (IOException e) {
                    throw new UserError("cannot read " + path + ": " + e.getMessage());
                }
            } else if (Files.isRegularFile(path)) {
                files.add(path);
            } else {
                throw new UserError("no such file or directory: " + path);
            }
        }
        List<HasMetadata> objects = new ArrayList<>();
        for (Path f : files) {
            String text;
            try {
                text = Files.readString(f);
            } catch (IOException | RuntimeException e) {
                throw new UserError("cannot read " + f + ": " + rootMessage(e));
            }
            for (ManifestDocuments.Located located : ManifestDocuments.read(f.toString(), text, client.getKubernetesSerialization())) {
                HasMetadata item = located.object();
                String where = located.origin();
                if (!KINDS.contains(item.getKind())) {
                    throw new UserError(where + ": kind " + item.getKind() + " is not supported by the local cluster (supported: "
                            + String.join(", ", KINDS.stream().sorted().toList()) + ")");
                }
                if (item.getMetadata() == null || item.getMetadata().getName() == null || item.getMetadata().getName().isBlank()) {
                    throw new UserError(where + ": a " + item.getKind() + " without metadata.name");
                }
                if (!item.getMetadata().getName().matches("[a-z0-9]([-a-z0-9.]*[a-z0-9])?") || item.getMetadata().getName().length() > 253) {
                    throw new UserError(where + ": invalid name " + item.getMetadata().getName() + " (a DNS-1123 subdomain is required)");
                }
                if (!(item instanceof Namespace) && (item.getMetadata().getNamespace() == null || item.getMetadata().getNamespace().isBlank())) {
                    item.getMetadata().setNamespace("default");
                }
                validate(where, item);
                objects.add(item);
            }
        }
        if (objects.isEmpty()) {
            throw new UserError("no objects in " + String.join(", ", paths));
        }
        return objects;
    }

    private static void validate(String f, HasMetadata item) {
        if (item instanceof Pod pod && (pod.getSpec() == null || pod.getSpec().getContainers() == null || pod.getSpec().getContainers().isEmpty())) {
            throw new UserError(f + ": no containers");
        }
        if (item instanceof Deployment d) {
            if (d.getSpec() == null || d.getSpec().getTemplate() == null || d.getSpec().getTemplate().getSpec() == null) {
                throw new UserError(f + ": no spec.template");
            }
            var selector = d.getSpec().getSelector();
            var labels = d.getSpec().getTemplate().getMetadata() == null ? null : d.getSpec().getTemplate().getMetadata().getLabels();
            if (selector == null || selector.getMatchLabels() == null || selector.getMatchLabels().isEmpty()) {
                throw new UserError(f + ": spec.selector.matchLabels is required");
            }
            if (labels == null || !labels.entrySet().containsAll(selector.getMatchLabels().entrySet())) {
                throw new UserError(f + ": `selector` does not match template `labels`");
            }
        }
        if (item instanceof NetworkPolicy np && np.getSpec() == null) {
            throw new UserError(f + ": no spec");
        }
        if (item instanceof Service svc && svc.getSpec() == null) {
            throw new UserError(f + ": no spec");
        }
    }

    /** With the default service CIDR. */
    static List<Applied> apply(KubernetesClient client, List<HasMetadata> objects) {
        return apply(client, objects, IpPrefix.parse(ServiceAdmission.DEFAULT_SERVICE_CIDR));
    }

    /**
     * Namespaces first (their objects need them), then the rest in file order. Services are admitted first, all of
     * them ({@link ServiceAdmission}: defaults, validation, cluster IP and node ports), so a bad one fails the command
     * before anything is written.
     */
    static List<Applied> apply(KubernetesClient client, List<HasMetadata> objects, IpPrefix serviceCidr) {
        List<Service> incoming = objects.stream().filter(o -> o instanceof Service).map(o -> (Service) o).toList();
        if (!incoming.isEmpty()) {
            List<Service> admitted = ServiceAdmission.admit(serviceCidr, client.services().inAnyNamespace().list().getItems(),
                    incoming, new java.util.Random());
            Map<Service, Service> byIncoming = new java.util.IdentityHashMap<>();
            for (int i = 0; i < incoming.size(); i++) {
                byIncoming.put(incoming.get(i), admitted.get(i));
            }
            objects = objects.stream().map(o -> o instanceof Service s ? (HasMetadata) byIncoming.get(s) : o).toList();
        }
        List<HasMetadata> ordered = new ArrayList<>(objects);
        ordered.sort(Comparator.comparingInt(o -> o instanceof Namespace ? 0 : 1));
        Set<String> namespaces = new java.util.HashSet<>();
        for (HasMetadata o : ordered) {
            if (o instanceof Namespace) {
                namespaces.add(o.getMetadata().getName());
            } else if (!namespaces.contains(o.getMetadata().getNamespace())
                    && client.namespaces().withName(o.getMetadata().getNamespace()).get() == null) {
                throw new UserError(o.getKind().toLowerCase() + "/" + o.getMetadata().getName() + ": namespace "
                        + o.getMetadata().getNamespace() + " not found (nothing was applied)");
            } else {
                namespaces.add(o.getMetadata().getNamespace());
            }
        }
        List<Applied> applied = new ArrayList<>();
        for (HasMetadata o : ordered) {
            applied.add(applyOne(client, o));
        }
        return applied;
    }

    /**
     * Applies one object; an edit that loses the race with a controller writing the same object (policy-service's
     * realization annotations on a NetworkPolicy: 409 Conflict) is read and applied again.
     */
    private static Applied applyOne(KubernetesClient client, HasMetadata o) {
        for (int attempt = 1; ; attempt++) {
            try {
                return applyOnce(client, o);
            } catch (KubernetesClientException e) {
                if (e.getCode() != 409 || attempt == 5) {
                    throw e;
                }
            }
        }
    }

    private static Applied applyOnce(KubernetesClient client, HasMetadata o) {
        HasMetadata existing = client.resource(o).get();
        if (existing == null) {
            o.getMetadata().setResourceVersion(null);
            client.resource(o).create();
            return new Applied(o, "created");
        }
        boolean same;
        switch (o) {
            case Namespace ns -> {
                same = sameMeta(existing, ns);
                if (!same) {
                    client.namespaces().withName(ns.getMetadata().getName()).edit(x -> {
                        x.getMetadata().setLabels(ns.getMetadata().getLabels() == null ? new HashMap<>() : new HashMap<>(ns.getMetadata().getLabels()));
                        x.getMetadata().setAnnotations(ns.getMetadata().getAnnotations());
                        return x;
                    });
                }
            }
            case Pod pod -> {
                same = sameMeta(existing, pod);
                if (!same) {
                    client.pods().inNamespace(pod.getMetadata().getNamespace()).withName(pod.getMetadata().getName()).edit(x -> {
                        x.getMetadata().setLabels(pod.getMetadata().getLabels());
                        x.getMetadata().setAnnotations(pod.getMetadata().getAnnotations());
                        return x;
                    });
                }
            }
            case Deployment d -> {
                Deployment old = (Deployment) existing;
                same = sameMeta(old, d) && java.util.Objects.equals(old.getSpec(), d.getSpec());
                if (!same) {
                    client.apps().deployments().inNamespace(d.getMetadata().getNamespace()).withName(d.getMetadata().getName()).edit(x -> {
                        x.getMetadata().setLabels(d.getMetadata().getLabels());
                        x.getMetadata().setAnnotations(d.getMetadata().getAnnotations());
                        x.setSpec(d.getSpec());
                        return x;
                    });
                }
            }
            case NetworkPolicy np -> {
                NetworkPolicy old = (NetworkPolicy) existing;
                same = sameMeta(old, np) && java.util.Objects.equals(old.getSpec(), np.getSpec());
                if (!same) {
                    client.network().v1().networkPolicies().inNamespace(np.getMetadata().getNamespace()).withName(np.getMetadata().getName()).edit(x -> {
                        x.getMetadata().setLabels(np.getMetadata().getLabels());
                        x.getMetadata().setAnnotations(keepWeftAnnotations(old, np));
                        x.setSpec(np.getSpec());
                        return x;
                    });
                }
            }
            case Service svc -> {
                // Admitted already: the spec carries the kept cluster IP and node ports, so it replaces the old one.
                Service old = (Service) existing;
                same = sameMeta(old, svc) && java.util.Objects.equals(old.getSpec(), svc.getSpec());
                if (!same) {
                    client.services().inNamespace(svc.getMetadata().getNamespace()).withName(svc.getMetadata().getName()).edit(x -> {
                        x.getMetadata().setLabels(svc.getMetadata().getLabels());
                        x.getMetadata().setAnnotations(svc.getMetadata().getAnnotations());
                        x.setSpec(svc.getSpec());
                        return x;
                    });
                }
            }
            default -> throw new UserError("unsupported kind " + o.getKind());
        }
        return new Applied(o, same ? "unchanged" : "configured");
    }

    /** The realization annotations belong to policy-service, not to the manifest. */
    private static java.util.Map<String, String> keepWeftAnnotations(HasMetadata old, HasMetadata updated) {
        java.util.Map<String, String> merged = new HashMap<>();
        if (old.getMetadata().getAnnotations() != null) {
            old.getMetadata().getAnnotations().forEach((k, v) -> {
                if (k.startsWith("weft.dev/")) {
                    merged.put(k, v);
                }
            });
        }
        if (updated.getMetadata().getAnnotations() != null) {
            merged.putAll(updated.getMetadata().getAnnotations());
        }
        return merged;
    }

    private static boolean sameMeta(HasMetadata old, HasMetadata updated) {
        var oldLabels = new HashMap<>(old.getMetadata().getLabels() == null ? java.util.Map.of() : old.getMetadata().getLabels());
        var newLabels = new HashMap<>(updated.getMetadata().getLabels() == null ? java.util.Map.of() : updated.getMetadata().getLabels());
        if (old instanceof Namespace) {
            oldLabels.remove(ApiServer.NAMESPACE_NAME_LABEL);
            newLabels.remove(ApiServer.NAMESPACE_NAME_LABEL);
        }
        if (old instanceof Pod) {
            oldLabels.remove(ClusterController.POD_TEMPLATE_HASH);
            newLabels.remove(ClusterController.POD_TEMPLATE_HASH);
        }
        var oldAnn = new HashMap<>(old.getMetadata().getAnnotations() == null ? java.util.Map.of() : old.getMetadata().getAnnotations());
        oldAnn.keySet().removeIf(k -> k.startsWith("weft.dev/"));
        var newAnn = updated.getMetadata().getAnnotations() == null ? java.util.Map.of() : updated.getMetadata().getAnnotations();
        return oldLabels.equals(newLabels) && oldAnn.equals(newAnn);
    }

    static List<String> delete(KubernetesClient client, List<HasMetadata> objects) {
        List<String> done = new ArrayList<>();
        List<HasMetadata> ordered = new ArrayList<>(objects);
        ordered.sort(Comparator.comparingInt(o -> o instanceof Namespace ? 1 : 0));
        for (HasMetadata o : ordered) {
            try {
                boolean deleted = !client.resource(o).delete().isEmpty();
                if (o instanceof Namespace && deleted) {
                    deleteNamespaceContents(client, o.getMetadata().getName());
                }
                done.add(o.getKind().toLowerCase() + "/" + o.getMetadata().getName() + (deleted ? " deleted" : " not found"));
            } catch (KubernetesClientException e) {
                done.add(o.getKind().toLowerCase() + "/" + o.getMetadata().getName() + " not deleted: " + e.getMessage());
            }
        }
        return done;
    }

    /** What the namespace controller of a real cluster does after a Namespace is deleted. */
    static void deleteNamespaceContents(KubernetesClient client, String ns) {
        client.network().v1().networkPolicies().inNamespace(ns).delete();
        client.services().inNamespace(ns).delete();
        client.apps().deployments().inNamespace(ns).delete();
        client.pods().inNamespace(ns).delete();
    }

    private static String rootMessage(Throwable e) {
        Throwable t = e;
        while (t.getCause() != null && t.getCause() != t) {
            t = t.getCause();
        }
        return t.getMessage() == null ? t.toString() : t.getMessage();
    }
}
