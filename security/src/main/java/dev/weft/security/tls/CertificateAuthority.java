package dev.weft.security.tls;

import org.bouncycastle.asn1.x500.X500Name;
import org.bouncycastle.asn1.x509.BasicConstraints;
import org.bouncycastle.asn1.x509.ExtendedKeyUsage;
import org.bouncycastle.asn1.x509.Extension;
import org.bouncycastle.asn1.x509.GeneralName;
import org.bouncycastle.asn1.x509.GeneralNames;
import org.bouncycastle.asn1.x509.KeyPurposeId;
import org.bouncycastle.asn1.x509.KeyUsage;
import org.bouncycastle.cert.X509v3CertificateBuilder;
import org.bouncycastle.cert.jcajce.JcaX509CertificateConverter;
import org.bouncycastle.cert.jcajce.JcaX509ExtensionUtils;
import org.bouncycastle.cert.jcajce.JcaX509v3CertificateBuilder;
import org.bouncycastle.operator.OperatorCreationException;
import org.bouncycastle.operator.jcajce.JcaContentSignerBuilder;

import java.math.BigInteger;
import java.security.GeneralSecurityException;
import java.security.KeyPair;
import java.security.KeyPairGenerator;
import java.security.PrivateKey;
import java.security.SecureRandom;
import java.security.Signature;
import java.security.cert.X509Certificate;
import java.security.spec.ECGenParameterSpec;
import java.time.Duration;
import java.time.Instant;
import java.util.Date;
import java.util.List;

/**
 * The control plane's own CA: a self-signed certificate with its key, which issues the services' serving
 * certificates. ECDSA P-256 keys: small, fast to generate at start-up, accepted by every TLS stack involved (JDK,
 * Netty, openssl, Go's crypto/tls for kubectl-side tools).
 */
public record CertificateAuthority(X509Certificate certificate, PrivateKey key) {

    /** Certificates start this much before "now", so a peer whose clock is a little behind accepts them at once. */
    static final Duration CLOCK_SKEW = Duration.ofMinutes(5);

    private static final SecureRandom RANDOM = new SecureRandom();

    public CertificateAuthority {
        if (certificate.getBasicConstraints() < 0) {
            throw new TlsMaterialException("CA certificate " + certificate.getSubjectX500Principal()
                    + " is not a CA (no basicConstraints CA:true)");
        }
        requireMatchingKey(certificate, key, "CA");
    }

    public static CertificateAuthority create(String commonName, Duration validity, Instant now) {
        KeyPair pair = newKeyPair();
        X500Name subject = new X500Name("CN=" + commonName);
        try {
            JcaX509ExtensionUtils ext = new JcaX509ExtensionUtils();
            X509v3CertificateBuilder builder = new JcaX509v3CertificateBuilder(subject, serial(),
                    Date.from(now.minus(CLOCK_SKEW)), Date.from(now.plus(validity)), subject, pair.getPublic())
                    .addExtension(Extension.basicConstraints, true, new BasicConstraints(0))
                    .addExtension(Extension.keyUsage, true, new KeyUsage(KeyUsage.keyCertSign | KeyUsage.cRLSign))
                    .addExtension(Extension.subjectKeyIdentifier, false,
                            ext.createSubjectKeyIdentifier(pair.getPublic()));
            return new CertificateAuthority(sign(builder, pair.getPrivate()), pair.getPrivate());
        } catch (GeneralSecurityException | java.io.IOException e) {
            throw new TlsMaterialException("cannot create CA " + commonName, e);
        }
    }

    /** A CA read back from PEM (the Secret's {@code tls.crt} and {@code tls.key}). */
    public static CertificateAuthority fromPem(String certificatePem, String keyPem, String what) {
        List<X509Certificate> chain = Pem.parseCertificates(certificatePem, what + " tls.crt");
        PrivateKey key = Pem.parsePrivateKey(keyPem, what + " tls.key");
        try {
            return new CertificateAuthority(chain.getFirst(), key);
        } catch (TlsMaterialException e) {
            throw new TlsMaterialException(what + ": " + e.getMessage(), e);
        }
    }

    /** A serving certificate for these DNS names (the first is the subject's CN), signed by this CA. */
    public ServingCertificate issue(List<String> dnsNames, Duration validity, Instant now) {
        if (dnsNames.isEmpty()) {
            throw new IllegalArgumentException("a serving certificate needs at least one DNS name");
        }
        KeyPair pair = newKeyPair();
        Instant notAfter = now.plus(validity);
        if (notAfter.isAfter(certificate.getNotAfter().toInstant())) {
            // Never outlive the issuer: a client would refuse the chain from the CA's expiry on.
            notAfter = certificate.getNotAfter().toInstant();
        }
        try {
            JcaX509ExtensionUtils ext = new JcaX509ExtensionUtils();
            GeneralName[] names = dnsNames.stream().map(n -> new GeneralName(GeneralName.dNSName, n))
                    .toArray(GeneralName[]::new);
            X509v3CertificateBuilder builder = new JcaX509v3CertificateBuilder(certificate, serial(),
                    Date.from(now.minus(CLOCK_SKEW)), Date.from(notAfter), new X500Name("CN=" + dnsNames.getFirst()),
                    pair.getPublic())
                    .addExtension(Extension.basicConstraints, true, new BasicConstraints(false))
                    .addExtension(Extension.keyUsage, true, new KeyUsage(KeyUsage.digitalSignature))
                    .addExtension(Extension.extendedKeyUsage, false, new ExtendedKeyUsage(KeyPurposeId.id_kp_serverAuth))
                    .addExtension(Extension.subjectAlternativeName, false, new GeneralNames(names))
                    .addExtension(Extension.authorityKeyIdentifier, false,
                            ext.createAuthorityKeyIdentifier(certificate));
            return new ServingCertificate(List.of(sign(builder, key)), pair.getPrivate());
        } catch (GeneralSecurityException | java.io.IOException e) {
            throw new TlsMaterialException("cannot issue a certificate for " + dnsNames, e);
        }
    }

    public String certificatePem() {
        return Pem.certificate(certificate);
    }

    public String keyPem() {
        return Pem.privateKey(key);
    }

    static void requireMatchingKey(X509Certificate certificate, PrivateKey key, String role) {
        try {
            String algorithm = "EC".equals(key.getAlgorithm()) ? "SHA256withECDSA" : "SHA256with" + key.getAlgorithm();
            byte[] probe = "weft key check".getBytes(java.nio.charset.StandardCharsets.US_ASCII);
            Signature signer = Signature.getInstance(algorithm);
            signer.initSign(key);
            signer.update(probe);
            byte[] signature = signer.sign();
            Signature verifier = Signature.getInstance(algorithm);
            verifier.initVerify(certificate.getPublicKey());
            verifier.update(probe);
            if (!verifier.verify(signature)) {
                throw new TlsMaterialException(role + " key does not belong to certificate "
                        + certificate.getSubjectX500Principal());
            }
        } catch (GeneralSecurityException e) {
            throw new TlsMaterialException(role + " key does not belong to certificate "
                    + certificate.getSubjectX500Principal() + " (" + e.getMessage() + ")", e);
        }
    }

    private static X509Certificate sign(X509v3CertificateBuilder builder, PrivateKey signer)
            throws GeneralSecurityException {
        try {
            return new JcaX509CertificateConverter().getCertificate(
                    builder.build(new JcaContentSignerBuilder("SHA256withECDSA").build(signer)));
        } catch (OperatorCreationException e) {
            throw new GeneralSecurityException(e);
        }
    }

    private static KeyPair newKeyPair() {
        try {
            KeyPairGenerator generator = KeyPairGenerator.getInstance("EC");
            generator.initialize(new ECGenParameterSpec("secp256r1"), RANDOM);
            return generator.generateKeyPair();
        } catch (GeneralSecurityException e) {
            throw new TlsMaterialException("cannot generate an EC P-256 key", e);
        }
    }

    private static BigInteger serial() {
        return new BigInteger(127, RANDOM).add(BigInteger.ONE);
    }
}
