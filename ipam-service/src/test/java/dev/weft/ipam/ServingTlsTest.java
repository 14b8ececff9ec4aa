package dev.weft.ipam;

import dev.weft.proto.ipam.v1.IpamGrpc;
import dev.weft.proto.ipam.v1.ListAllocationsRequest;
import dev.weft.security.tls.CertificateAuthority;
import dev.weft.security.tls.ControlPlaneCa;
import dev.weft.security.tls.ReloadableTrustManager;
import dev.weft.security.tls.ClientTls;
import dev.weft.security.tls.ServingCertificate;
import dev.weft.security.tls.ServingTls;
import io.fabric8.kubernetes.api.model.ConfigMap;
import io.fabric8.kubernetes.api.model.Secret;
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
import java.time.Instant;
import java.util.List;
import java.util.Map;
import java.util.concurrent.TimeUnit;
import java.util.function.Function;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNotEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

/** ipam-service as deployed: TLS only, its certificate issued by the CA it keeps in the API. */
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

    static final String NAMESPACE = "weft-system";
    static final String SERVER_NAME = "ipam-service.weft-system.svc";

    @Inject
    KubernetesClient k8s;

    @Inject
    ServingTls serving;

    @ConfigProperty(name = "quarkus.http.test-ssl-port")
    int port;

    @Test
    void publishesTheCaAndServesACertificateItIssued() throws Exception {
        Secret secret = k8s.secrets().inNamespace(NAMESPACE).withName("weft-ca").get();
        assertEquals("kubernetes.io/tls", secret.getType());
        ConfigMap bundle = k8s.configMaps().inNamespace(NAMESPACE).withName("weft-ca").get();
        assertTrue(bundle.getData().containsKey("ca.crt"));
        List<X509Certificate> cas = ControlPlaneCa.readBundle(k8s, NAMESPACE, "weft-ca");
        assertEquals(1, cas.size());

        ServingCertificate served = serving.current();
        served.leaf().verify(cas.getFirst().getPublicKey());
        assertTrue(served.leaf().getSubjectAlternativeNames().stream().anyMatch(n -> SERVER_NAME.equals(n.get(1))));

        // What a restarted (or second) replica does: finds the CA and reuses it.
        CertificateAuthority again = ControlPlaneCa.loadOrCreate(k8s, NAMESPACE, "weft-ca", Duration.ofDays(1),
                Instant.now());
        assertEquals(cas.getFirst(), again.certificate());

        assertEquals(0, call(t -> ClientTls.channel(t, ReloadableTrustManager.of(cas, "test"), SERVER_NAME)));
    }

    @Test
    void refusesPlaintext() {
        StatusRuntimeException e = assertThrows(StatusRuntimeException.class,
                () -> call(t -> ManagedChannelBuilder.forTarget(t).usePlaintext().build()));
        assertEquals(io.grpc.Status.Code.UNAVAILABLE, e.getStatus().getCode(), e.toString());
    }

    @Test
    void aClientWithAnotherCaIsRefusedWithAClearError() {
        CertificateAuthority stranger = CertificateAuthority.create("stranger", Duration.ofDays(1), Instant.now());
        StatusRuntimeException e = assertThrows(StatusRuntimeException.class, () -> call(t -> ClientTls.channel(t,
                ReloadableTrustManager.of(List.of(stranger.certificate()), "a test bundle"), SERVER_NAME)));
        assertEquals(io.grpc.Status.Code.UNAVAILABLE, e.getStatus().getCode());
        assertTrue(causes(e).contains("server certificate not trusted by the CA bundle from a test bundle"),
                causes(e));
    }

    @Test
    void aClientExpectingAnotherServerNameIsRefused() {
        List<X509Certificate> cas = ControlPlaneCa.readBundle(k8s, NAMESPACE, "weft-ca");
        StatusRuntimeException e = assertThrows(StatusRuntimeException.class, () -> call(t -> ClientTls.channel(t,
                ReloadableTrustManager.of(cas, "test"), "policy-service.weft-system.svc")));
        assertEquals(io.grpc.Status.Code.UNAVAILABLE, e.getStatus().getCode());
        assertTrue(causes(e).contains("policy-service.weft-system.svc"), causes(e));
    }

    @Test
    void rotationKeepsTheCaAndServesTheNewCertificate() {
        List<X509Certificate> cas = ControlPlaneCa.readBundle(k8s, NAMESPACE, "weft-ca");
        ServingCertificate before = serving.current();
        ServingCertificate after = serving.rotateNow();
        assertNotEquals(before.leaf().getSerialNumber(), after.leaf().getSerialNumber());
        assertEquals(cas, ControlPlaneCa.readBundle(k8s, NAMESPACE, "weft-ca"), "same CA after rotation");
        assertEquals(0, call(t -> ClientTls.channel(t, ReloadableTrustManager.of(cas, "test"), SERVER_NAME)));
    }

    @Test
    void aCaBundleOverwrittenBySomeoneElseIsRestoredFromTheSecret() {
        List<X509Certificate> cas = ControlPlaneCa.readBundle(k8s, NAMESPACE, "weft-ca");
        CertificateAuthority stranger = CertificateAuthority.create("stranger", Duration.ofDays(1), Instant.now());
        ConfigMap bundle = k8s.configMaps().inNamespace(NAMESPACE).withName("weft-ca").get();
        bundle.setData(Map.of("ca.crt", stranger.certificatePem()));
        k8s.resource(bundle).update();

        serving.rotateNow(); // as at every renewal: the published bundle is made the Secret's CA again
        assertEquals(cas, ControlPlaneCa.readBundle(k8s, NAMESPACE, "weft-ca"));
    }

    private int call(Function<String, ManagedChannel> channel) {
        ManagedChannel ch = channel.apply("127.0.0.1:" + port);
        try {
            return IpamGrpc.newBlockingStub(ch).withDeadlineAfter(10, TimeUnit.SECONDS)
                    .listAllocations(ListAllocationsRequest.getDefaultInstance()).getAllocationsCount() * 0;
        } finally {
            ch.shutdownNow();
        }
    }

    private static String causes(Throwable t) {
        StringBuilder out = new StringBuilder();
        for (Throwable c = t; c != null; c = c.getCause()) {
            out.append(c).append(" <- ");
        }
        return out.toString();
    }
}
