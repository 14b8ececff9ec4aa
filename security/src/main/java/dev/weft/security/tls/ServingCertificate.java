package dev.weft.security.tls;

import java.security.PrivateKey;
import java.security.cert.X509Certificate;
import java.time.Duration;
import java.time.Instant;
import java.util.List;

/** A server's certificate chain (leaf first) with the leaf's key, and when it is due for renewal. */
public record ServingCertificate(List<X509Certificate> chain, PrivateKey key) {

    public ServingCertificate {
        chain = List.copyOf(chain);
        if (chain.isEmpty()) {
            throw new TlsMaterialException("a serving certificate chain needs at least the leaf");
        }
        CertificateAuthority.requireMatchingKey(chain.getFirst(), key, "serving");
    }

    public static ServingCertificate fromPem(String chainPem, String keyPem, String what) {
        List<X509Certificate> chain = Pem.parseCertificates(chainPem, what + " certificate");
        PrivateKey key = Pem.parsePrivateKey(keyPem, what + " key");
        try {
            return new ServingCertificate(chain, key);
        } catch (TlsMaterialException e) {
            throw new TlsMaterialException(what + ": " + e.getMessage(), e);
        }
    }

    public X509Certificate leaf() {
        return chain.getFirst();
    }

    public Instant notBefore() {
        return leaf().getNotBefore().toInstant();
    }

    public Instant notAfter() {
        return leaf().getNotAfter().toInstant();
    }

    /**
     * Two thirds into its life: a third of the validity is left to retry a failed renewal (API server down, CA Secret
     * unreadable) while clients still accept the old one.
     */
    public Instant renewAt() {
        Duration life = Duration.between(notBefore(), notAfter());
        return notBefore().plus(life.multipliedBy(2).dividedBy(3));
    }

    public boolean dueForRenewal(Instant now) {
        return !now.isBefore(renewAt());
    }

    public String chainPem() {
        return Pem.certificates(chain);
    }

    public String keyPem() {
        return Pem.privateKey(key);
    }
}
