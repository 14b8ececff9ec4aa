package dev.weft.security.tls;

import org.bouncycastle.asn1.pkcs.PrivateKeyInfo;
import org.bouncycastle.openssl.PEMKeyPair;
import org.bouncycastle.openssl.PEMParser;
import org.bouncycastle.openssl.jcajce.JcaPEMKeyConverter;
import org.bouncycastle.cert.X509CertificateHolder;
import org.bouncycastle.cert.jcajce.JcaX509CertificateConverter;

import java.io.IOException;
import java.io.StringReader;
import java.security.GeneralSecurityException;
import java.security.PrivateKey;
import java.security.cert.X509Certificate;
import java.util.ArrayList;
import java.util.Base64;
import java.util.List;

/**
 * PEM text of certificates and private keys, as Kubernetes TLS Secrets ({@code tls.crt}, {@code tls.key}), cert-manager
 * and openssl write them. Every error names what was being read ({@code what}), so a bad Secret or file is found at once.
 */
public final class Pem {
    private Pem() {
    }

    public static String certificate(X509Certificate certificate) {
        try {
            return block("CERTIFICATE", certificate.getEncoded());
        } catch (GeneralSecurityException e) {
            throw new TlsMaterialException("cannot encode certificate " + certificate.getSubjectX500Principal(), e);
        }
    }

    public static String certificates(List<X509Certificate> certificates) {
        StringBuilder out = new StringBuilder();
        certificates.forEach(c -> out.append(certificate(c)));
        return out.toString();
    }

    /** PKCS#8 ({@code BEGIN PRIVATE KEY}), which Vert.x, Netty and openssl all read. */
    public static String privateKey(PrivateKey key) {
        return block("PRIVATE KEY", key.getEncoded());
    }

    /** All certificates of a PEM text, in order; at least one. */
    public static List<X509Certificate> parseCertificates(String pem, String what) {
        List<X509Certificate> out = new ArrayList<>();
        try (PEMParser parser = new PEMParser(new StringReader(pem == null ? "" : pem))) {
            JcaX509CertificateConverter converter = new JcaX509CertificateConverter();
            for (Object o = parser.readObject(); o != null; o = parser.readObject()) {
                if (!(o instanceof X509CertificateHolder holder)) {
                    throw new TlsMaterialException(what + ": expected only CERTIFICATE blocks, found " + describe(o));
                }
                out.add(converter.getCertificate(holder));
            }
        } catch (TlsMaterialException e) {
            throw e;
        } catch (IOException | GeneralSecurityException | RuntimeException e) {
            // Bouncy Castle reports bad base64 as a DecoderException (a RuntimeException).
            throw new TlsMaterialException(what + ": not a PEM certificate (" + e.getMessage() + ")", e);
        }
        if (out.isEmpty()) {
            throw new TlsMaterialException(what + ": no PEM certificate in it (expected -----BEGIN CERTIFICATE-----)");
        }
        return List.copyOf(out);
    }

    /** The one private key of a PEM text: PKCS#8, or PKCS#1/SEC1 as older openssl writes them. */
    public static PrivateKey parsePrivateKey(String pem, String what) {
        try (PEMParser parser = new PEMParser(new StringReader(pem == null ? "" : pem))) {
            Object o = parser.readObject();
            if (o == null) {
                throw new TlsMaterialException(what + ": no PEM private key in it (expected -----BEGIN PRIVATE KEY-----)");
            }
            if (parser.readObject() != null) {
                throw new TlsMaterialException(what + ": more than one PEM block; expected one private key");
            }
            JcaPEMKeyConverter converter = new JcaPEMKeyConverter();
            if (o instanceof PrivateKeyInfo info) {
                return converter.getPrivateKey(info);
            }
            if (o instanceof PEMKeyPair pair) {
                return converter.getKeyPair(pair).getPrivate();
            }
            throw new TlsMaterialException(what + ": expected an unencrypted private key, found " + describe(o));
        } catch (TlsMaterialException e) {
            throw e;
        } catch (IOException | RuntimeException e) {
            throw new TlsMaterialException(what + ": not a PEM private key (" + e.getMessage() + ")", e);
        }
    }

    private static String describe(Object o) {
        return o.getClass().getSimpleName();
    }

    private static String block(String type, byte[] der) {
        return "-----BEGIN " + type + "-----\n"
                + Base64.getMimeEncoder(64, new byte[] {'\n'}).encodeToString(der)
                + "\n-----END " + type + "-----\n";
    }
}
