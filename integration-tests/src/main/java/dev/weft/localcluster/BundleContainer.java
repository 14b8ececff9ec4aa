package dev.weft.localcluster;

import io.fabric8.kubernetes.api.model.Capabilities;
import io.fabric8.kubernetes.api.model.ConfigMap;
import io.fabric8.kubernetes.api.model.Container;
import io.fabric8.kubernetes.api.model.EnvVar;
import io.fabric8.kubernetes.api.model.HasMetadata;
import io.fabric8.kubernetes.api.model.PodSpec;
import io.fabric8.kubernetes.api.model.SecurityContext;
import io.fabric8.kubernetes.api.model.Volume;
import io.fabric8.kubernetes.api.model.VolumeMount;
import io.fabric8.kubernetes.api.model.apps.DaemonSet;
import io.fabric8.kubernetes.api.model.apps.Deployment;
import io.fabric8.kubernetes.client.utils.KubernetesSerialization;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Objects;
import java.util.stream.Collectors;

/**
 * A container of the bundle (src/main/kubernetes/weft.yml) turned into {@code podman run} arguments the way a kubelet
 * would run it: image, command, environment (values, ConfigMap keys, downward API), capabilities (privileged too), user, read-only
 * root, CPU request (as cpu.shares) and memory limit, volumes. The image tests run the images with what the bundle says, so a bundle that asks too
 * little of a container (a capability, a writable path) fails them; the local cluster's podman kubelet runs the system
 * pods with it.
 */
public record BundleContainer(PodSpec pod, Container container, Map<String, ConfigMap> configMaps) {

    public static List<HasMetadata> load(Path bundle) throws IOException {
        KubernetesSerialization yaml = new KubernetesSerialization();
        List<HasMetadata> out = new ArrayList<>();
        for (String doc : Files.readString(bundle).split("(?m)^---\\s*$")) {
            if (doc.lines().anyMatch(l -> !l.isBlank() && !l.startsWith("#"))) {
                out.add(yaml.unmarshal(doc, HasMetadata.class));
            }
        }
        return out;
    }

    public static BundleContainer of(List<HasMetadata> bundle, String workload, String containerName) {
        Map<String, ConfigMap> configMaps = bundle.stream().filter(ConfigMap.class::isInstance).map(ConfigMap.class::cast)
                .collect(Collectors.toMap(c -> c.getMetadata().getName(), c -> c));
        PodSpec pod = bundle.stream().filter(o -> workload.equals(o.getMetadata().getName())).map(o -> switch (o) {
            case Deployment d -> d.getSpec().getTemplate().getSpec();
            case DaemonSet d -> d.getSpec().getTemplate().getSpec();
            default -> null;
        }).filter(Objects::nonNull).findFirst().orElseThrow(() -> new IllegalArgumentException("no workload " + workload + " in the bundle"));
        Container c = java.util.stream.Stream.concat(pod.getInitContainers().stream(), pod.getContainers().stream())
                .filter(x -> containerName.equals(x.getName())).findFirst()
                .orElseThrow(() -> new IllegalArgumentException("no container " + containerName + " in " + workload));
        return new BundleContainer(pod, c, configMaps);
    }

    /** The container's environment: literal values, ConfigMap keys, and {@code fieldRefs} standing in for the downward API. */
    public Map<String, String> env(Map<String, String> fieldRefs) {
        Map<String, String> env = new LinkedHashMap<>();
        for (EnvVar e : container.getEnv()) {
            String value;
            if (e.getValueFrom() == null) {
                value = e.getValue();
            } else if (e.getValueFrom().getConfigMapKeyRef() != null) {
                var ref = e.getValueFrom().getConfigMapKeyRef();
                value = Objects.requireNonNull(configMaps.get(ref.getName()), "ConfigMap " + ref.getName()).getData().get(ref.getKey());
            } else if (e.getValueFrom().getFieldRef() != null) {
                String path = e.getValueFrom().getFieldRef().getFieldPath();
                value = Objects.requireNonNull(fieldRefs.get(path), "no test value for fieldRef " + path);
            } else {
                throw new IllegalArgumentException("env " + e.getName() + ": only value, configMapKeyRef and fieldRef are mapped");
            }
            env.put(e.getName(), value == null ? "" : value);
        }
        return env;
    }

    /**
     * {@code podman run} arguments after the container name: security, environment ({@code env} plus
     * {@code envOverrides}), volumes (hostPath and projected volumes at {@code hostPaths} by volume name), image,
     * command and args.
     */
    public List<String> podmanArgs(Map<String, String> fieldRefs, Map<String, String> envOverrides, Map<String, Path> hostPaths) {
        List<String> args = new ArrayList<>();
        SecurityContext sc = container.getSecurityContext();
        Capabilities caps = sc == null ? null : sc.getCapabilities();
        if (sc != null && Boolean.TRUE.equals(sc.getPrivileged())) {
            // As the kubelet: every capability, the devices, and /proc/sys writable (the node's sysctls).
            args.add("--privileged");
        }
        if (caps != null && caps.getDrop().contains("ALL")) {
            args.add("--cap-drop=all");
        }
        if (caps != null) {
            caps.getAdd().forEach(c -> args.add("--cap-add=" + c));
        }
        if (sc != null && Boolean.FALSE.equals(sc.getAllowPrivilegeEscalation())) {
            args.add("--security-opt=no-new-privileges");
        }
        if (sc != null && Boolean.TRUE.equals(sc.getReadOnlyRootFilesystem())) {
            args.add("--read-only");
        }
        Long uid = sc != null && sc.getRunAsUser() != null ? sc.getRunAsUser()
                : pod.getSecurityContext() == null ? null : pod.getSecurityContext().getRunAsUser();
        Long gid = sc != null && sc.getRunAsGroup() != null ? sc.getRunAsGroup()
                : pod.getSecurityContext() == null ? null : pod.getSecurityContext().getRunAsGroup();
        if (uid != null) {
            args.add("--user=" + uid + (gid == null ? "" : ":" + gid));
        }
        var limits = container.getResources() == null ? null : container.getResources().getLimits();
        if (limits != null && limits.containsKey("memory")) {
            args.add("--memory=" + io.fabric8.kubernetes.api.model.Quantity.getAmountInBytes(limits.get("memory")).longValue() + "b");
        }
        if (limits != null && limits.containsKey("cpu")) {
            args.add("--cpus=" + io.fabric8.kubernetes.api.model.Quantity.getAmountInBytes(limits.get("cpu")).toPlainString());
        }
        // As the kubelet sets cpu.shares from the CPU request (1024 per core, at least 2): under contention the
        // containers share the CPU in proportion to their requests. A memory request is a scheduling figure only;
        // the kubelet does not enforce it either.
        var requests = container.getResources() == null ? null : container.getResources().getRequests();
        if (requests != null && requests.containsKey("cpu")) {
            long milli = io.fabric8.kubernetes.api.model.Quantity.getAmountInBytes(requests.get("cpu"))
                    .movePointRight(3).setScale(0, java.math.RoundingMode.UP).longValueExact();
            args.add("--cpu-shares=" + Math.max(2, milli * 1024 / 1000));
        }
        Map<String, String> env = env(fieldRefs);
        env.putAll(envOverrides);
        env.forEach((k, v) -> args.add("--env=" + k + "=" + v));
        for (VolumeMount m : container.getVolumeMounts()) {
            Volume v = pod.getVolumes().stream().filter(x -> x.getName().equals(m.getName())).findFirst()
                    .orElseThrow(() -> new IllegalArgumentException("volumeMount " + m.getName() + " names no volume"));
            if (v.getEmptyDir() != null) {
                args.add("--tmpfs=" + m.getMountPath());
            } else if (v.getHostPath() != null && "CharDevice".equals(v.getHostPath().getType())) {
                args.add("--device=" + v.getHostPath().getPath() + ":" + m.getMountPath());
            } else if (v.getHostPath() != null) {
                Path host = Objects.requireNonNull(hostPaths.get(v.getName()), "no test directory for hostPath volume " + v.getName());
                List<String> opts = new ArrayList<>();
                if (Boolean.TRUE.equals(m.getReadOnly())) {
                    opts.add("ro");
                }
                if ("HostToContainer".equals(m.getMountPropagation())) {
                    opts.add("rslave");
                }
                args.add("--volume=" + host + ":" + m.getMountPath() + (opts.isEmpty() ? "" : ":" + String.join(",", opts)));
            } else if (v.getProjected() != null) {
                // What the kubelet projects (ServiceAccount tokens): a directory the caller filled with a file per
                // source (projectedTokenPaths says which), mounted read-only.
                Path dir = Objects.requireNonNull(hostPaths.get(v.getName()),
                        "no directory with the projected tokens of volume " + v.getName());
                args.add("--volume=" + dir + ":" + m.getMountPath() + ":ro");
            } else {
                throw new IllegalArgumentException("volume " + v.getName() + ": only emptyDir, hostPath and projected tokens are mapped");
            }
        }
        if (!container.getCommand().isEmpty()) {
            args.add("--entrypoint=" + container.getCommand().stream().map(s -> "\"" + s.replace("\"", "\\\"") + "\"")
                    .collect(Collectors.joining(",", "[", "]")));
        }
        args.add(container.getImage());
        args.addAll(container.getArgs());
        return args;
    }

    /**
     * The files a kubelet writes into each projected volume of the pod: volume name -> (relative path -> audience), for
     * serviceAccountToken sources (the only kind mapped).
     */
    public Map<String, Map<String, String>> projectedTokenPaths() {
        Map<String, Map<String, String>> out = new LinkedHashMap<>();
        for (Volume v : pod.getVolumes()) {
            if (v.getProjected() == null) {
                continue;
            }
            Map<String, String> files = new LinkedHashMap<>();
            for (var source : v.getProjected().getSources()) {
                if (source.getServiceAccountToken() == null) {
                    throw new IllegalArgumentException("volume " + v.getName() + ": only serviceAccountToken sources are mapped");
                }
                files.put(source.getServiceAccountToken().getPath(), source.getServiceAccountToken().getAudience());
            }
            out.put(v.getName(), files);
        }
        return out;
    }

    /** The container's exec probe command (the openvswitch container's), or an error if it has none. */
    public List<String> execProbe() {
        var probe = container.getReadinessProbe();
        if (probe == null || probe.getExec() == null) {
            throw new IllegalArgumentException(container.getName() + " has no exec readiness probe");
        }
        return List.copyOf(probe.getExec().getCommand());
    }
}
