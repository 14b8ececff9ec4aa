package dev.weft.ipam;

import dev.weft.proto.ipam.v1.IpamGrpc;
import dev.weft.proto.ipam.v1.ListAllocationsRequest;
import dev.weft.security.tls.CertificateAuthority;
import dev.weft.security.tls.ClientTls;
import dev.weft.security.tls.ControlPlaneCa;
import dev.weft.security.tls.ReloadableTrustManager;
import dev.weft.security.tls.ServingCertificate;
import dev.weft.security.tls.ServingTls;
import io.fabric8.kubernetes.client.KubernetesClient;
import io.grpc.ManagedChannel;
import io.quarkus.test.junit.QuarkusTest;
import io.quarkus.test.junit.QuarkusTestProfile;
import io.quarkus.test.junit.TestProfile;
import io.quarkus.test.kubernetes.client.WithKubernetesTestServer;
import jakarta.inject.Inject;
import org.eclipse.microprofile.config.inject.ConfigProperty;
import org.junit.jupiter.api.Test;

import java.io.IOException;
import java.io.UncheckedIOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.time.Instant;
import java.util.List;
import java.util.Map;
import java.util.concurrent.TimeUnit;

import static org.awaitility.Awaitility.await;
import static org.junit.jupiter.api.Assertions.assertEquals;

/**
 * ipam-service with its certificate from files, as cert-manager provides them (tls.crt, tls.key, ca.crt of a
 * Certificate's Secret): the files are served, a rewritten pair is served from the next check on, a broken rewrite
 * keeps the last good certificate, and ca.crt is what the service publishes in ConfigMap weft-ca for the agents.
 */
@QuarkusTest
@TestProfile(FileTlsTest.FromFiles.class)
@WithKubernetesTestServer(crud = true)
class FileTlsTest {

    static final String SERVER_NAME = "ipam-service.weft-system.svc";
    /** An issuer of the operator's own, outside the service (as cert-manager's would be). */
    static final CertificateAuthority ISSUER = CertificateAuthority.create("operator-issuer", Duration.ofDays(2),
            Instant.now());
    static final Path DIR;
    static final java.security.cert.X509Certificate FIRST_LEAF;

    static {
        try {
            DIR = Files.createTempDirectory("weft-file-tls");
            ServingCertificate initial = ISSUER.issue(List.of(SERVER_NAME), Duration.ofDays(1), Instant.now());
            FIRST_LEAF = initial.leaf();
            write(initial);
            Files.writeString(DIR.resolve("ca.crt"), ISSUER.certificatePem());
        } catch (IOException e) {
            throw new UncheckedIOException(e);
        }
    }

    /** Replaces the pair the way cert-manager's Secret update reaches a pod: whole files renamed into place. */
    static void write(ServingCertificate c) throws IOException {
        for (var f : Map.of("tls.crt", c.chainPem(), "tls.key", c.keyPem()).entrySet()) {
            Path tmp = DIR.resolve(f.getKey() + ".tmp");
            Files.writeString(tmp, f.getValue());
            Files.move(tmp, DIR.resolve(f.getKey()), java.nio.file.StandardCopyOption.ATOMIC_MOVE);
        }
    }

    public static class FromFiles implements QuarkusTestProfile {
        @Override
        public Map<String, String> getConfigOverrides() {
            return Map.of("weft.tls.enabled", "true", "quarkus.http.tls-configuration-name", "weft",
                    "quarkus.http.insecure-requests", "disabled",
                    "weft.tls.cert-file", DIR.resolve("tls.crt").toString(),
                    "weft.tls.key-file", DIR.resolve("tls.key").toString(),
                    "weft.tls.ca-file", DIR.resolve("ca.crt").toString());
        }
    }

    @Inject
    KubernetesClient k8s;

    @Inject
    ServingTls serving;

    @ConfigProperty(name = "quarkus.http.test-ssl-port")
    int port;

    @Test
    void servesTheFilesFollowsTheirChangesAndKeepsTheLastGoodPair() throws Exception {
        assertEquals(List.of(ISSUER.certificate()), ControlPlaneCa.readBundle(k8s, "weft-system", "weft-ca"),
                "ca.crt published for the agents");
        assertEquals(Files.readString(DIR.resolve("tls.crt")), serving.current().chainPem());
        assertEquals(FIRST_LEAF, servedLeaf());
        call();

        ServingCertificate next = ISSUER.issue(List.of(SERVER_NAME), Duration.ofDays(1), Instant.now());
        write(next);
        await().atMost(Duration.ofSeconds(10)).until(() -> serving.current().leaf().equals(next.leaf()));
        // The HTTP server takes the new options asynchronously: what a new handshake gets is checked on the wire.
        await().atMost(Duration.ofSeconds(10)).ignoreExceptions().until(() -> next.leaf().equals(servedLeaf()));
        call(); // a new connection gets the new pair, from the same issuer

        // A half-written or foreign key: logged, and the last good pair stays served.
        ServingCertificate other = ISSUER.issue(List.of(SERVER_NAME), Duration.ofDays(1), Instant.now());
        Files.writeString(DIR.resolve("tls.key"), other.keyPem()); // tls.crt still next's: the key does not match
        Thread.sleep(1000); // several check intervals (200 ms in tests)
        assertEquals(next.leaf(), serving.current().leaf());
        Files.writeString(DIR.resolve("tls.crt"), "-----BEGIN CERTIFICATE-----\nnot base64\n");
        Thread.sleep(1000);
        assertEquals(next.leaf(), serving.current().leaf());
        assertEquals(next.leaf(), servedLeaf());
        call();
    }

    /** The leaf certificate a new TLS handshake with the service's port is given, verified against the issuer. */
    private java.security.cert.X509Certificate servedLeaf() throws Exception {
        javax.net.ssl.SSLContext context = javax.net.ssl.SSLContext.getInstance("TLS");
        context.init(null, new javax.net.ssl.TrustManager[] {
                ReloadableTrustManager.of(List.of(ISSUER.certificate()), "test")}, null);
        try (var socket = (javax.net.ssl.SSLSocket) context.getSocketFactory().createSocket("127.0.0.1", port)) {
            socket.setSoTimeout(5000);
            socket.startHandshake();
            return (java.security.cert.X509Certificate) socket.getSession().getPeerCertificates()[0];
        }
    }

    private void call() {
        ManagedChannel ch = ClientTls.channel("127.0.0.1:" + port,
                ReloadableTrustManager.of(List.of(ISSUER.certificate()), "test"), SERVER_NAME);
        try {
            IpamGrpc.newBlockingStub(ch).withDeadlineAfter(10, TimeUnit.SECONDS)
                    .listAllocations(ListAllocationsRequest.getDefaultInstance());
        } finally {
            ch.shutdownNow();
        }
    }
}
