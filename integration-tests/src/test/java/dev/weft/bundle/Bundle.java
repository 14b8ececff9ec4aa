package dev.weft.bundle;

import io.fabric8.kubernetes.api.model.Container;
import io.fabric8.kubernetes.api.model.HasMetadata;
import io.fabric8.kubernetes.api.model.PodTemplateSpec;
import io.fabric8.kubernetes.api.model.apps.DaemonSet;
import io.fabric8.kubernetes.api.model.apps.Deployment;
import io.fabric8.kubernetes.client.utils.KubernetesSerialization;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.Optional;
import java.util.stream.Stream;

/** The deployable bundle, src/main/kubernetes/*.yml, as fabric8 model objects. */
record Bundle(List<HasMetadata> objects) {

    static final Path REPO = Path.of(System.getProperty("weft.repo", "..")).toAbsolutePath().normalize();
    static final Path DIR = REPO.resolve("src/main/kubernetes");

    /** A workload of the bundle that runs one of our Java services, and the module that service is built from. */
    record ServiceModule(String module, String workload, String container) {
    }

    static final List<ServiceModule> SERVICES = List.of(
            new ServiceModule("ipam-service", "ipam-service", "ipam-service"),
            new ServiceModule("policy-service", "policy-service", "policy-service"),
            new ServiceModule("agent-service", "weft-agent", "agent"));

    static Bundle load() throws IOException {
        List<HasMetadata> out = new ArrayList<>();
        try (Stream<Path> files = Files.list(DIR)) {
            for (Path f : files.filter(p -> p.toString().endsWith(".yml") || p.toString().endsWith(".yaml")).sorted().toList()) {
                out.addAll(parse(Files.readString(f)));
            }
        }
        return new Bundle(out);
    }

    static List<HasMetadata> parse(String yaml) {
        KubernetesSerialization serialization = new KubernetesSerialization();
        List<HasMetadata> out = new ArrayList<>();
        for (String doc : yaml.split("(?m)^---\\s*$")) {
            if (doc.lines().anyMatch(l -> !l.isBlank() && !l.strip().startsWith("#"))) {
                out.add(serialization.unmarshal(doc, HasMetadata.class));
            }
        }
        return out;
    }

    <T extends HasMetadata> Stream<T> all(Class<T> kind) {
        return objects.stream().filter(kind::isInstance).map(kind::cast);
    }

    <T extends HasMetadata> Optional<T> find(Class<T> kind, String namespace, String name) {
        return all(kind).filter(o -> name.equals(o.getMetadata().getName())
                && (namespace == null || namespace.equals(o.getMetadata().getNamespace()))).findFirst();
    }

    /** Deployments and DaemonSets with their pod templates. */
    Stream<Workload> workloads() {
        return objects.stream().map(o -> switch (o) {
            case Deployment d -> new Workload(d, d.getSpec().getTemplate());
            case DaemonSet d -> new Workload(d, d.getSpec().getTemplate());
            default -> null;
        }).filter(w -> w != null);
    }

    Workload workload(String name) {
        return workloads().filter(w -> w.object().getMetadata().getName().equals(name)).findFirst()
                .orElseThrow(() -> new AssertionError("the bundle has no workload " + name));
    }

    record Workload(HasMetadata object, PodTemplateSpec template) {

        String namespace() {
            return object.getMetadata().getNamespace();
        }

        /** Init containers first, as the kubelet runs them. */
        Stream<Container> containers() {
            return Stream.concat(template.getSpec().getInitContainers().stream(), template.getSpec().getContainers().stream());
        }

        String serviceAccount() {
            String sa = template.getSpec().getServiceAccountName();
            return sa == null || sa.isEmpty() ? "default" : sa;
        }

        /** "Deployment weft-system/ipam-service" */
        String describe() {
            return Bundle.describe(object);
        }
    }

    static String describe(HasMetadata o) {
        String ns = o.getMetadata().getNamespace();
        return o.getKind() + " " + (ns == null ? "" : ns + "/") + o.getMetadata().getName();
    }
}
