package dev.weft.bundle;

import io.fabric8.kubernetes.api.model.ConfigMap;
import io.fabric8.kubernetes.api.model.EnvVarBuilder;
import io.fabric8.kubernetes.api.model.apps.DaemonSet;
import io.fabric8.kubernetes.api.model.apps.Deployment;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import java.util.Set;
import java.util.TreeSet;
import java.util.regex.Matcher;
import java.util.regex.Pattern;
import java.util.stream.Collectors;
import java.util.stream.Stream;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * The bundle parses into fabric8 model objects and references only what exists: the images the images module
 * builds, ConfigMaps and keys the services read, ServiceAccounts and roles of the bundle. A wrong reference fails
 * naming the object and the field (the negative cases below break one reference each).
 */
class BundleReferencesTest {

    static Set<String> images;
    static final Map<String, Set<String>> SETTINGS = new HashMap<>();

    @BeforeAll
    static void imagesOfTheImagesModule() throws IOException {
        String version = projectVersion();
        try (Stream<Path> dirs = Files.list(Bundle.REPO.resolve("images/src/main/containers"))) {
            images = dirs.filter(d -> Files.exists(d.resolve("Containerfile")))
                    .map(d -> "localhost/weft/" + d.getFileName() + ":" + version).collect(Collectors.toCollection(TreeSet::new));
        }
        assertTrue(images.contains("localhost/weft/agent:" + version), images.toString());
    }

    static String projectVersion() throws IOException {
        Matcher m = Pattern.compile("<artifactId>weft-parent</artifactId>\\s*<version>([^<]+)</version>")
                .matcher(Files.readString(Bundle.REPO.resolve("pom.xml")));
        assertTrue(m.find(), "no version in the root pom");
        return m.group(1);
    }

    static Set<String> settings(String module) {
        return SETTINGS.computeIfAbsent(module, m -> ServiceSettings.environmentNames(Bundle.REPO.resolve(m)));
    }

    static List<String> problems(Bundle bundle) {
        return new BundleChecks(bundle, images, BundleReferencesTest::settings).problems();
    }

    @Test
    void theBundleReferencesOnlyWhatExists() throws IOException {
        Bundle bundle = Bundle.load();
        assertTrue(bundle.objects().size() > 10, "bundle read: " + bundle.objects().size() + " objects");
        assertEquals(List.of(), problems(bundle));
    }

    @Test
    void theServicesReadTheirSettingsUnderTheBundlesNames() {
        assertTrue(settings("ipam-service").containsAll(Set.of("IPAM_CLUSTER_CIDRS", "IPAM_LEADER_ELECTION_LEASE_NAMESPACE", "IPAM_HTTP_HOST")),
                settings("ipam-service").toString());
        assertTrue(settings("agent-service").containsAll(Set.of("AGENT_KUBE_API_SERVER_OVERRIDE", "AGENT_CONTROL_PLANE_DISCOVERY",
                "AGENT_POD_MTU", "NODE_NAME", "IPAM_HOST", "CONTROLPLANE_PORT")), settings("agent-service").toString());
        assertTrue(!settings("agent-service").contains("AGENT_CNI_BIN_DIR"), "agent.cni-bin-dir is not read by the agent");
    }

    // ------------------------------------------------------------------ each broken reference is named

    @Test
    void anImageNoModuleBuildsIsNamed() throws IOException {
        Bundle bundle = Bundle.load();
        daemonSet(bundle).getSpec().getTemplate().getSpec().getContainers().getFirst().setImage("ghcr.io/weft-cni/agent-service:0.1.0");
        assertProblem(bundle, "DaemonSet weft-system/weft-agent: spec.template.spec.containers[openvswitch].image: "
                + "ghcr.io/weft-cni/agent-service:0.1.0 is not an image the images module builds");
    }

    @Test
    void aConfigMapKeyThatIsNotThereIsNamed() throws IOException {
        Bundle bundle = Bundle.load();
        deployment(bundle, "ipam-service").getSpec().getTemplate().getSpec().getContainers().getFirst().getEnv().stream()
                .filter(e -> e.getName().equals("IPAM_CLUSTER_CIDRS")).findFirst().orElseThrow()
                .getValueFrom().getConfigMapKeyRef().setKey("IPAM_CLUSTER_CIDR");
        assertProblem(bundle, "Deployment weft-system/ipam-service: spec.template.spec.containers[ipam-service].env[IPAM_CLUSTER_CIDRS]"
                + ".valueFrom.configMapKeyRef.key: ConfigMap weft-system/weft-config has no key IPAM_CLUSTER_CIDR");
        assertProblem(bundle, "ConfigMap weft-system/weft-config: data.IPAM_CLUSTER_CIDRS: no container reads this key");
    }

    @Test
    void aSettingTheServiceDoesNotReadIsNamed() throws IOException {
        Bundle bundle = Bundle.load();
        bundle.find(ConfigMap.class, "weft-system", "weft-config").orElseThrow().getData().put("AGENT_CNI_BIN_DIR", "/opt/cni/bin");
        daemonSet(bundle).getSpec().getTemplate().getSpec().getContainers().get(1).getEnv().add(new EnvVarBuilder()
                .withName("AGENT_CNI_BIN_DIR").withNewValueFrom().withNewConfigMapKeyRef("AGENT_CNI_BIN_DIR", "weft-config", false)
                .endValueFrom().build());
        assertProblem(bundle, "DaemonSet weft-system/weft-agent: spec.template.spec.containers[agent].env[AGENT_CNI_BIN_DIR]: "
                + "agent-service reads no AGENT_CNI_BIN_DIR (not a key of its configuration)");
    }

    @Test
    void aServiceAccountTheBundleDoesNotDefineIsNamed() throws IOException {
        Bundle bundle = Bundle.load();
        deployment(bundle, "policy-service").getSpec().getTemplate().getSpec().setServiceAccountName("policy");
        assertProblem(bundle, "Deployment weft-system/policy-service: spec.template.spec.serviceAccountName: "
                + "ServiceAccount weft-system/policy is not in the bundle");
    }

    @Test
    void anUnknownFieldIsNamed() {
        String yaml = """
                apiVersion: v1
                kind: ServiceAccount
                metadata: {name: weft-agent, namespace: weft-system}
                automountServiceAcountToken: false
                """;
        Bundle bundle = new Bundle(Bundle.parse(yaml));
        assertProblem(bundle, "ServiceAccount weft-system/weft-agent: automountServiceAcountToken: unknown field");
    }

    @Test
    void aKindOutsideTheModelIsNamed() {
        Bundle bundle = new Bundle(Bundle.parse("apiVersion: weft.dev/v1\nkind: Wefting\nmetadata: {name: x}\n"));
        assertProblem(bundle, "Wefting x: weft.dev/v1 Wefting is not a kind of the Kubernetes API model");
    }

    private static void assertProblem(Bundle bundle, String expected) {
        List<String> problems = problems(bundle);
        assertTrue(problems.stream().anyMatch(p -> p.startsWith(expected)), "expected a problem starting with\n  " + expected
                + "\ngot\n  " + String.join("\n  ", problems));
    }

    private static DaemonSet daemonSet(Bundle bundle) {
        return bundle.find(DaemonSet.class, "weft-system", "weft-agent").orElseThrow();
    }

    private static Deployment deployment(Bundle bundle, String name) {
        return bundle.find(Deployment.class, "weft-system", name).orElseThrow();
    }
}
