package dev.weft.security.tls;

import javax.net.ssl.SSLEngine;
import javax.net.ssl.TrustManagerFactory;
import javax.net.ssl.X509ExtendedTrustManager;
import javax.net.ssl.X509TrustManager;
import java.net.Socket;
import java.security.GeneralSecurityException;
import java.security.KeyStore;
import java.security.cert.CertificateException;
import java.security.cert.X509Certificate;
import java.util.List;

/**
 * Trusts the CAs of the current bundle and can be handed a new bundle at any time (the agent follows the CA
 * ConfigMap): channels built once keep this trust manager, and every new TLS handshake checks against the bundle of
 * that moment. Before any bundle is known every handshake fails with {@code whereFrom} in the message, so "no CA yet"
 * is never mistaken for a bad certificate.
 */
public final class ReloadableTrustManager extends X509ExtendedTrustManager {

    private record Current(List<X509Certificate> authorities, X509ExtendedTrustManager delegate) {
    }

    private final String whereFrom;
    private volatile Current current;

    public ReloadableTrustManager(String whereFrom) {
        this.whereFrom = whereFrom;
    }

    public static ReloadableTrustManager of(List<X509Certificate> authorities, String whereFrom) {
        ReloadableTrustManager tm = new ReloadableTrustManager(whereFrom);
        tm.update(authorities);
        return tm;
    }

    /** Replaces the trusted CAs; returns whether they changed. */
    public boolean update(List<X509Certificate> authorities) {
        if (authorities.isEmpty()) {
            throw new TlsMaterialException(whereFrom + ": the CA bundle is empty");
        }
        Current before = current;
        if (before != null && before.authorities().equals(authorities)) {
            return false;
        }
        current = new Current(List.copyOf(authorities), delegateFor(authorities));
        return true;
    }

    public List<X509Certificate> authorities() {
        Current c = current;
        return c == null ? List.of() : c.authorities();
    }

    private X509ExtendedTrustManager delegate() throws CertificateException {
        Current c = current;
        if (c == null) {
            throw new CertificateException("no CA bundle to verify the server against yet (" + whereFrom + ")");
        }
        return c.delegate();
    }

    private static X509ExtendedTrustManager delegateFor(List<X509Certificate> authorities) {
        try {
            KeyStore store = KeyStore.getInstance("PKCS12");
            store.load(null, null);
            for (int i = 0; i < authorities.size(); i++) {
                store.setCertificateEntry("ca-" + i, authorities.get(i));
            }
            TrustManagerFactory factory = TrustManagerFactory.getInstance(TrustManagerFactory.getDefaultAlgorithm());
            factory.init(store);
            for (var tm : factory.getTrustManagers()) {
                if (tm instanceof X509ExtendedTrustManager x) {
                    return x;
                }
            }
            throw new TlsMaterialException("the JDK has no X509ExtendedTrustManager");
        } catch (GeneralSecurityException | java.io.IOException e) {
            throw new TlsMaterialException("cannot build a trust manager from the CA bundle", e);
        }
    }

    private CertificateException explain(CertificateException e) {
        return new CertificateException("server certificate not trusted by the CA bundle from " + whereFrom + ": "
                + e.getMessage(), e);
    }

    @Override
    public void checkServerTrusted(X509Certificate[] chain, String authType, SSLEngine engine)
            throws CertificateException {
        try {
            delegate().checkServerTrusted(chain, authType, engine);
        } catch (CertificateException e) {
            throw explain(e);
        }
    }

    @Override
    public void checkServerTrusted(X509Certificate[] chain, String authType, Socket socket)
            throws CertificateException {
        try {
            delegate().checkServerTrusted(chain, authType, socket);
        } catch (CertificateException e) {
            throw explain(e);
        }
    }

    @Override
    public void checkServerTrusted(X509Certificate[] chain, String authType) throws CertificateException {
        try {
            delegate().checkServerTrusted(chain, authType);
        } catch (CertificateException e) {
            throw explain(e);
        }
    }

    @Override
    public void checkClientTrusted(X509Certificate[] chain, String authType, SSLEngine engine)
            throws CertificateException {
        delegate().checkClientTrusted(chain, authType, engine);
    }

    @Override
    public void checkClientTrusted(X509Certificate[] chain, String authType, Socket socket)
            throws CertificateException {
        delegate().checkClientTrusted(chain, authType, socket);
    }

    @Override
    public void checkClientTrusted(X509Certificate[] chain, String authType) throws CertificateException {
        delegate().checkClientTrusted(chain, authType);
    }

    @Override
    public X509Certificate[] getAcceptedIssuers() {
        return authorities().toArray(X509Certificate[]::new);
    }

    /** For APIs that want the plain interface. */
    public X509TrustManager asTrustManager() {
        return this;
    }
}
