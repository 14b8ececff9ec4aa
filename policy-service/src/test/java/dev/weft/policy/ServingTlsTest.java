package dev.weft.policy;

import dev.weft.proto.controlplane.v1.ControlPlaneGrpc;
import dev.weft.proto.controlplane.v1.WatchPoliciesRequest;
import dev.weft.security.tls.ClientTls;
import dev.weft.security.tls.ControlPlaneCa;
import dev.weft.security.tls.ReloadableTrustManager;
import dev.weft.security.tls.ServingCertificate;
import dev.weft.security.tls.ServingTls;
import io.fabric8.kubernetes.client.KubernetesClient;
import io.grpc.ManagedChannel;
import io.grpc.ManagedChannelBuilder;
import io.grpc.StatusRuntimeException;
import io.quarkus.test.junit.QuarkusTest;
import io.quarkus.test.junit.QuarkusTestProfile;
import io.quarkus.test.junit.TestProfile;
import io.quarkus.test.kubernetes.client.WithKubernetesTestServer;
import jakarta.inject.Inject;
import org.eclipse.microprofile.config.inject.ConfigProperty;
import org.junit.jupiter.api.Test;

import java.security.cert.X509Certificate;
import java.time.Duration;
import java.util.HashSet;
import java.util.List;
import java.util.Map;
import java.util.Set;
import java.util.UUID;
import java.util.concurrent.TimeUnit;

import static dev.weft.policy.K8s.*;
import static org.awaitility.Awaitility.await;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNotEquals;
import static org.junit.jupiter.api.Assertions.assertNull;
import static org.junit.jupiter.api.Assertions.assertThrows;

/**
 * policy-service as deployed (TLS only): an agent's WatchPolicies stream stays open across certificate rotations
 * and receives every policy created while the certificate changes under it; plaintext is refused.
 */
@QuarkusTest
@TestProfile(ServingTlsTest.TlsOnly.class)
@WithKubernetesTestServer(crud = true)
class ServingTlsTest {

    public static class TlsOnly implements QuarkusTestProfile {
        @Override
        public Map<String, String> getConfigOverrides() {
            return Map.of("weft.tls.enabled", "true", "quarkus.http.tls-configuration-name", "weft",
                    "quarkus.http.insecure-requests", "disabled");
        }
    }

    static final String SERVER_NAME = "policy-service.weft-system.svc";

    @Inject
    KubernetesClient client;

    @Inject
    ServingTls serving;

    @ConfigProperty(name = "quarkus.http.test-ssl-port")
    int port;

    @Test
    void aWatchStreamStaysOpenAcrossRotationsAndLosesNoUpdate() throws Exception {
        String suffix = UUID.randomUUID().toString().substring(0, 6);
        String ns = "rot-" + suffix;
        String node = "node-" + suffix;
        client.resource(namespace(ns, "team=rot")).create();
        client.resource(pod(ns, "web-1", "app=web", node, "10.2.1.1")).create();

        List<X509Certificate> cas = ControlPlaneCa.readBundle(client, "weft-system", "weft-ca");
        ManagedChannel channel = ClientTls.channel("127.0.0.1:" + port, ReloadableTrustManager.of(cas, "test"),
                SERVER_NAME);
        ControlPlaneStreamTest.GrpcAgent agent = new ControlPlaneStreamTest.GrpcAgent();
        try {
            ControlPlaneGrpc.newStub(channel).watchPolicies(
                    WatchPoliciesRequest.newBuilder().setNodeName(node).setAgentId("tls-" + node).build(), agent);
            await().atMost(Duration.ofSeconds(20)).until(() -> agent.view.synced || agent.error != null);
            assertNull(agent.error);

            Set<String> created = new HashSet<>();
            ServingCertificate first = serving.current();
            for (int round = 0; round < 3; round++) {
                for (int i = 0; i < 5; i++) {
                    created.add(client.resource(ingressPolicy(ns, "p" + round + "-" + i, sel("app=web"),
                            List.of(podPeer(sel("app=client"))), List.of(port("TCP", 80 + i, null)))).create()
                            .getMetadata().getUid());
                }
                serving.rotateNow(); // while those policies are being computed and sent
            }
            assertNotEquals(first.leaf().getSerialNumber(), serving.current().leaf().getSerialNumber());

            await().atMost(Duration.ofSeconds(30)).untilAsserted(() -> {
                assertNull(agent.error, "the stream stays open");
                assertEquals(created, agent.view.policyNames());
            });

            // New connections get the new certificate, from the same CA.
            ManagedChannel fresh = ClientTls.channel("127.0.0.1:" + port, ReloadableTrustManager.of(cas, "test"),
                    SERVER_NAME);
            try {
                ControlPlaneGrpc.newBlockingStub(fresh).withDeadlineAfter(10, TimeUnit.SECONDS)
                        .getPolicyStatus(dev.weft.proto.controlplane.v1.GetPolicyStatusRequest.getDefaultInstance());
            } finally {
                fresh.shutdownNow();
            }
        } finally {
            if (agent.call != null) {
                agent.call.cancel("test ends", null);
            }
            channel.shutdownNow().awaitTermination(5, TimeUnit.SECONDS);
        }
    }

    @Test
    void aCaBundleOverwrittenBySomeoneElseIsRestoredFromTheSecret() {
        List<X509Certificate> cas = ControlPlaneCa.readBundle(client, "weft-system", "weft-ca");
        dev.weft.security.tls.CertificateAuthority stranger = dev.weft.security.tls.CertificateAuthority.create(
                "stranger", Duration.ofDays(1), java.time.Instant.now());
        io.fabric8.kubernetes.api.model.ConfigMap bundle = client.configMaps().inNamespace("weft-system")
                .withName("weft-ca").get();
        bundle.setData(Map.of("ca.crt", stranger.certificatePem()));
        client.resource(bundle).update();

        serving.rotateNow(); // as at every renewal: the published bundle is made the Secret's CA again
        assertEquals(cas, ControlPlaneCa.readBundle(client, "weft-system", "weft-ca"));
    }

    @Test
    void refusesPlaintext() {
        ManagedChannel plain = ManagedChannelBuilder.forAddress("127.0.0.1", port).usePlaintext().build();
        try {
            StatusRuntimeException e = assertThrows(StatusRuntimeException.class, () -> ControlPlaneGrpc
                    .newBlockingStub(plain).withDeadlineAfter(10, TimeUnit.SECONDS)
                    .getPolicyStatus(dev.weft.proto.controlplane.v1.GetPolicyStatusRequest.getDefaultInstance()));
            assertEquals(io.grpc.Status.Code.UNAVAILABLE, e.getStatus().getCode(), e.toString());
        } finally {
            plain.shutdownNow();
        }
    }
}
