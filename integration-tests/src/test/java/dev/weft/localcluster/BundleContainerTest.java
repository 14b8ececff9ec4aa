package dev.weft.localcluster;

import io.fabric8.kubernetes.api.model.HasMetadata;
import org.junit.jupiter.api.Test;

import java.nio.file.Path;
import java.util.HashMap;
import java.util.List;
import java.util.Map;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

/** The bundle's containers as podman arguments: what the podman kubelet and the image tests run them with. */
class BundleContainerTest {
    static final Path REPO = Path.of(System.getProperty("weft.repo", "..")).toAbsolutePath().normalize();

    private static List<String> args(String workload, String container) throws Exception {
        List<HasMetadata> bundle = BundleContainer.load(REPO.resolve(BundleDeployment.BUNDLE));
        BundleContainer c = BundleContainer.of(bundle, workload, container);
        Map<String, Path> volumes = new HashMap<>();
        c.pod().getVolumes().forEach(v -> volumes.put(v.getName(), Path.of("/tmp/bundle-container-test", v.getName())));
        return c.podmanArgs(Map.of("spec.nodeName", "n1", "status.podIP", "192.0.2.1", "status.hostIP", "192.0.2.1",
                "metadata.name", "p", "metadata.namespace", "weft-system", "spec.serviceAccountName", "sa"), Map.of(), volumes);
    }

    @Test
    void theAgentRunsWithItsCapabilitiesLimitAndCpuShare() throws Exception {
        List<String> args = args("weft-agent", "agent");
        assertTrue(args.contains("--cap-drop=all"), args.toString());
        assertTrue(args.contains("--cap-add=NET_ADMIN") && args.contains("--cap-add=SYS_ADMIN"), args.toString());
        // limits.memory 256Mi; requests.cpu 100m -> 102 shares, as the kubelet computes them
        assertTrue(args.contains("--memory=268435456b"), args.toString());
        assertTrue(args.contains("--cpu-shares=102"), args.toString());
        assertTrue(args.contains("--env=NODE_NAME=n1"), "the downward API's spec.nodeName: " + args);
        assertTrue(args.contains("--security-opt=no-new-privileges"), args.toString());
        assertTrue(args.stream().anyMatch(a -> a.startsWith("localhost/weft/agent:")), args.toString());
    }

    @Test
    void everyContainerOfTheBundleAsksForCpu() throws Exception {
        List<HasMetadata> bundle = BundleContainer.load(REPO.resolve(BundleDeployment.BUNDLE));
        Map<String, Integer> shares = new java.util.TreeMap<>();
        for (var o : bundle) {
            var spec = podSpec(o);
            if (spec == null) {
                continue;
            }
            for (var c : java.util.stream.Stream.concat(spec.getInitContainers().stream(), spec.getContainers().stream()).toList()) {
                List<String> args = args(o.getMetadata().getName(), c.getName());
                String share = args.stream().filter(a -> a.startsWith("--cpu-shares=")).findFirst()
                        .orElseThrow(() -> new AssertionError(o.getMetadata().getName() + "/" + c.getName() + " asks for no CPU: " + args));
                shares.put(o.getMetadata().getName() + "/" + c.getName(), Integer.parseInt(share.substring("--cpu-shares=".length())));
            }
        }
        assertEquals(6, shares.size(), shares.toString());
        assertTrue(shares.values().stream().allMatch(s -> s >= 2), shares.toString());
    }

    @Test
    void onlyTheSysctlInitContainerIsPrivileged() throws Exception {
        assertTrue(args("weft-agent", "node-sysctls").contains("--privileged"));
        List<HasMetadata> bundle = BundleContainer.load(REPO.resolve(BundleDeployment.BUNDLE));
        List<String> privileged = new java.util.ArrayList<>();
        for (var o : bundle) {
            var spec = podSpec(o);
            if (spec != null) {
                java.util.stream.Stream.concat(spec.getInitContainers().stream(), spec.getContainers().stream())
                        .filter(c -> c.getSecurityContext() != null && Boolean.TRUE.equals(c.getSecurityContext().getPrivileged()))
                        .forEach(c -> privileged.add(o.getMetadata().getName() + "/" + c.getName()));
            }
        }
        assertEquals(List.of("weft-agent/node-sysctls"), privileged);
        assertTrue(args("weft-agent", "agent").stream().noneMatch(a -> a.equals("--privileged")));
    }

    /** A Deployment's or DaemonSet's pod template, else null. */
    private static io.fabric8.kubernetes.api.model.PodSpec podSpec(HasMetadata o) {
        return switch (o) {
            case io.fabric8.kubernetes.api.model.apps.Deployment d -> d.getSpec().getTemplate().getSpec();
            case io.fabric8.kubernetes.api.model.apps.DaemonSet d -> d.getSpec().getTemplate().getSpec();
            default -> null;
        };
    }

    @Test
    void aWorkloadOrContainerTheBundleLacksIsNamed() throws Exception {
        List<HasMetadata> bundle = BundleContainer.load(REPO.resolve(BundleDeployment.BUNDLE));
        assertEquals("no workload nope in the bundle",
                assertThrows(IllegalArgumentException.class, () -> BundleContainer.of(bundle, "nope", "agent")).getMessage());
        assertEquals("no container nope in weft-agent",
                assertThrows(IllegalArgumentException.class, () -> BundleContainer.of(bundle, "weft-agent", "nope")).getMessage());
    }
}
