package dev.weft.localcluster;

import io.fabric8.kubernetes.api.model.NamespaceBuilder;
import io.fabric8.kubernetes.api.model.Pod;
import io.fabric8.kubernetes.api.model.PodBuilder;
import io.fabric8.kubernetes.api.model.authentication.TokenRequestBuilder;
import io.fabric8.kubernetes.client.KubernetesClient;

import java.io.IOException;
import java.io.UncheckedIOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardCopyOption;
import java.nio.file.attribute.PosixFilePermissions;
import java.time.Duration;
import java.time.Instant;
import java.util.ArrayList;
import java.util.List;

/**
 * The identity of the local cluster's own CLI (GetPolicyStatus, weftctl ipam), as a real cluster gives one to a pod:
 * a hostNetwork Pod object in weft-system bound to the first node, with a ServiceAccount token for the control plane's
 * audience requested from the API server (TokenRequest, bound to that pod) and written to a file (mode 0600), as the
 * kubelet writes a projected token; renewed well before expiry. The system pods' tokens are projected by the podman
 * kubelet from their own volumes. docs/security.md, docs/localcluster.md.
 */
final class SystemIdentities {

    static final String NAMESPACE = "weft-system";
    static final String AUDIENCE = "weft-control-plane";
    /** What the bundle's projected volumes ask for. */
    static final long EXPIRATION_SECONDS = 3607;
    /** Renewed when this old (the kubelet renews at 80% of the lifetime). */
    static final Duration RENEW_AFTER = Duration.ofSeconds(EXPIRATION_SECONDS * 8 / 10);
    static final String CLI_POD = "localcluster";

    /** One token of a process: its pod, the audience, and where the token file is. */
    record Identity(String pod, String serviceAccount, String node, Path tokenFile, String audience) {
    }

    private SystemIdentities() {
    }

    /** The token of the local cluster's own CLI (GetPolicyStatus, weftctl ipam): its pod runs on the first node. */
    static Path cliTokenFile(Layout layout) {
        return layout.home().resolve("localcluster-token");
    }

    static List<Identity> all(Layout layout, ClusterState cluster) {
        List<Identity> out = new ArrayList<>();
        out.add(new Identity(CLI_POD, "localcluster", cluster.nodes().getFirst().name(), cliTokenFile(layout), AUDIENCE));
        return out;
    }

    /** Creates the namespace and pods if missing and writes every token file (at start). */
    static void create(KubernetesClient client, Layout layout, ClusterState cluster) {
        if (client.namespaces().withName(NAMESPACE).get() == null) {
            client.namespaces().resource(new NamespaceBuilder().withNewMetadata().withName(NAMESPACE).endMetadata().build()).create();
        }
        for (Identity id : all(layout, cluster)) {
            writeToken(client, id, pod(client, id));
        }
    }

    /** Renews the token files older than {@link #RENEW_AFTER} (the local kubelet's pass). */
    static void renew(KubernetesClient client, Layout layout, ClusterState cluster) {
        for (Identity id : all(layout, cluster)) {
            try {
                if (!Files.exists(id.tokenFile()) || Files.getLastModifiedTime(id.tokenFile()).toInstant()
                        .isBefore(Instant.now().minus(RENEW_AFTER))) {
                    writeToken(client, id, pod(client, id));
                }
            } catch (IOException e) {
                throw new UncheckedIOException("cannot renew " + id.tokenFile(), e);
            }
        }
    }

    private static Pod pod(KubernetesClient client, Identity id) {
        Pod existing = client.pods().inNamespace(NAMESPACE).withName(id.pod()).get();
        if (existing != null) {
            return existing;
        }
        return client.pods().inNamespace(NAMESPACE).resource(new PodBuilder().withNewMetadata().withName(id.pod())
                .addToLabels("app", id.serviceAccount()).endMetadata()
                .withNewSpec().withServiceAccountName(id.serviceAccount()).withNodeName(id.node()).withHostNetwork(true)
                .addNewContainer().withName(id.serviceAccount()).withImage("localcluster/process").endContainer()
                .endSpec().build()).create();
    }

    private static void writeToken(KubernetesClient client, Identity id, Pod pod) {
        String token = client.serviceAccounts().inNamespace(NAMESPACE).withName(id.serviceAccount()).tokenRequest(
                new TokenRequestBuilder().withNewSpec().withAudiences(id.audience()).withExpirationSeconds(EXPIRATION_SECONDS)
                        .withNewBoundObjectRef().withApiVersion("v1").withKind("Pod").withName(id.pod())
                        .withUid(pod.getMetadata().getUid()).endBoundObjectRef().endSpec().build()).getStatus().getToken();
        try {
            Files.createDirectories(id.tokenFile().getParent());
            Path tmp = id.tokenFile().resolveSibling(id.tokenFile().getFileName() + ".tmp");
            Files.deleteIfExists(tmp);
            Files.createFile(tmp, PosixFilePermissions.asFileAttribute(PosixFilePermissions.fromString("rw-------")));
            Files.writeString(tmp, token);
            Files.move(tmp, id.tokenFile(), StandardCopyOption.ATOMIC_MOVE, StandardCopyOption.REPLACE_EXISTING);
        } catch (IOException e) {
            throw new UncheckedIOException("cannot write " + id.tokenFile(), e);
        }
    }

    /** The CLI's current token, for a call to ipam-service or policy-service. */
    static String cliToken(Layout layout) {
        try {
            return Files.readString(cliTokenFile(layout)).strip();
        } catch (IOException e) {
            throw new UncheckedIOException("cannot read the local cluster's token " + cliTokenFile(layout)
                    + " (written when the cluster starts)", e);
        }
    }
}
