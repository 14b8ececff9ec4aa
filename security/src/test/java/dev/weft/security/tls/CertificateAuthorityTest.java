package dev.weft.security.tls;

import org.junit.jupiter.api.Test;

import javax.net.ssl.X509TrustManager;
import java.security.cert.CertificateException;
import java.security.cert.X509Certificate;
import java.time.Duration;
import java.time.Instant;
import java.util.List;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

class CertificateAuthorityTest {

    private static final Instant NOW = Instant.parse("2026-01-01T00:00:00Z");

    @Test
    void issuesServingCertificatesThatTheCaVerifies() throws Exception {
        Instant now = Instant.now(); // the JDK's path validation checks validity against the real clock
        CertificateAuthority ca = CertificateAuthority.create("test-ca", Duration.ofDays(3650), now);
        ServingCertificate served = ca.issue(List.of("ipam-service.weft-system.svc", "ipam-service"),
                Duration.ofDays(30), now);

        served.leaf().verify(ca.certificate().getPublicKey());
        assertEquals(ca.certificate().getSubjectX500Principal(), served.leaf().getIssuerX500Principal());
        assertEquals(-1, served.leaf().getBasicConstraints(), "a serving certificate is no CA");
        assertEquals(List.of("ipam-service.weft-system.svc", "ipam-service"), served.leaf().getSubjectAlternativeNames()
                .stream().map(n -> (String) n.get(1)).toList());
        assertEquals(now.plus(Duration.ofDays(30)).getEpochSecond(), served.notAfter().getEpochSecond());
        assertEquals(now.minus(CertificateAuthority.CLOCK_SKEW).getEpochSecond(), served.notBefore().getEpochSecond());

        X509TrustManager trust = ReloadableTrustManager.of(List.of(ca.certificate()), "test");
        trust.checkServerTrusted(served.chain().toArray(X509Certificate[]::new), "ECDHE_ECDSA");
    }

    @Test
    void renewsAtTwoThirdsOfItsLife() {
        CertificateAuthority ca = CertificateAuthority.create("test-ca", Duration.ofDays(3650), NOW);
        ServingCertificate served = ca.issue(List.of("a.example"), Duration.ofDays(30), NOW);
        Duration life = Duration.between(served.notBefore(), served.notAfter());
        Instant renewAt = served.notBefore().plus(life.multipliedBy(2).dividedBy(3));

        assertEquals(renewAt, served.renewAt());
        assertFalse(served.dueForRenewal(renewAt.minusSeconds(1)));
        assertTrue(served.dueForRenewal(renewAt));
        assertTrue(served.dueForRenewal(served.notAfter().plusSeconds(1)));
    }

    @Test
    void neverOutlivesItsCa() {
        CertificateAuthority ca = CertificateAuthority.create("test-ca", Duration.ofDays(10), NOW);
        ServingCertificate served = ca.issue(List.of("a.example"), Duration.ofDays(30), NOW);
        assertEquals(ca.certificate().getNotAfter().toInstant(), served.notAfter());
    }

    @Test
    void pemRoundTripsAndRefusesMismatchedKeys() {
        CertificateAuthority ca = CertificateAuthority.create("test-ca", Duration.ofDays(3650), NOW);
        CertificateAuthority back = CertificateAuthority.fromPem(ca.certificatePem(), ca.keyPem(), "Secret x/weft-ca");
        assertEquals(ca.certificate(), back.certificate());

        CertificateAuthority other = CertificateAuthority.create("other-ca", Duration.ofDays(3650), NOW);
        TlsMaterialException mismatch = assertThrows(TlsMaterialException.class,
                () -> CertificateAuthority.fromPem(ca.certificatePem(), other.keyPem(), "Secret x/weft-ca"));
        assertEquals("Secret x/weft-ca: CA key does not belong to certificate CN=test-ca", mismatch.getMessage());

        ServingCertificate served = ca.issue(List.of("a.example"), Duration.ofDays(30), NOW);
        TlsMaterialException notCa = assertThrows(TlsMaterialException.class,
                () -> CertificateAuthority.fromPem(served.chainPem(), served.keyPem(), "Secret x/weft-ca"));
        assertEquals("Secret x/weft-ca: CA certificate CN=a.example is not a CA (no basicConstraints CA:true)",
                notCa.getMessage());
    }

    @Test
    void malformedPemIsAClearError() {
        TlsMaterialException empty = assertThrows(TlsMaterialException.class,
                () -> Pem.parseCertificates("", "/etc/weft/tls.crt"));
        assertEquals("/etc/weft/tls.crt: no PEM certificate in it (expected -----BEGIN CERTIFICATE-----)",
                empty.getMessage());
        TlsMaterialException garbage = assertThrows(TlsMaterialException.class,
                () -> Pem.parseCertificates("-----BEGIN CERTIFICATE-----\nnot base64!\n-----END CERTIFICATE-----\n",
                        "/etc/weft/tls.crt"));
        assertTrue(garbage.getMessage().startsWith("/etc/weft/tls.crt: not a PEM certificate"), garbage.getMessage());
        CertificateAuthority ca = CertificateAuthority.create("test-ca", Duration.ofDays(3650), NOW);
        TlsMaterialException keyInCert = assertThrows(TlsMaterialException.class,
                () -> Pem.parseCertificates(ca.keyPem(), "/etc/weft/tls.crt"));
        assertTrue(keyInCert.getMessage().startsWith("/etc/weft/tls.crt: expected only CERTIFICATE blocks"),
                keyInCert.getMessage());
    }

    @Test
    void aBundleWithoutTheIssuerRefusesWithItsSourceInTheMessage() {
        Instant now = Instant.now();
        CertificateAuthority ca = CertificateAuthority.create("test-ca", Duration.ofDays(3650), now);
        CertificateAuthority other = CertificateAuthority.create("other-ca", Duration.ofDays(3650), now);
        ServingCertificate served = ca.issue(List.of("a.example"), Duration.ofDays(30), now);

        ReloadableTrustManager trust = new ReloadableTrustManager("ConfigMap weft-system/weft-ca");
        CertificateException none = assertThrows(CertificateException.class,
                () -> trust.checkServerTrusted(served.chain().toArray(X509Certificate[]::new), "ECDHE_ECDSA"));
        assertTrue(none.getMessage().contains("no CA bundle to verify the server against yet"), none.getMessage());

        trust.update(List.of(other.certificate()));
        CertificateException wrong = assertThrows(CertificateException.class,
                () -> trust.checkServerTrusted(served.chain().toArray(X509Certificate[]::new), "ECDHE_ECDSA"));
        assertTrue(wrong.getMessage().startsWith(
                "server certificate not trusted by the CA bundle from ConfigMap weft-system/weft-ca"), wrong.getMessage());

        assertTrue(trust.update(List.of(other.certificate(), ca.certificate())));
        assertFalse(trust.update(List.of(other.certificate(), ca.certificate())), "same bundle: no change");
    }
}
