package dev.weft.localcluster;

import java.net.http.HttpClient;
import java.security.cert.X509Certificate;
import java.time.Duration;

/**
 * HTTP clients for readiness checks, made the way a kubelet probes: HTTPS without verifying the certificate (a probe
 * asks "is it up"; when the first probe goes, the CA may not even be published yet). Callers that exchange data with a
 * service verify it instead ({@link Grpc#controlPlane}).
 */
public final class KubeletProbe {
    private static final HttpClient PLAIN = HttpClient.newBuilder().connectTimeout(Duration.ofSeconds(2)).build();
    private static final HttpClient UNVERIFIED_TLS = HttpClient.newBuilder().connectTimeout(Duration.ofSeconds(2))
            .sslContext(unverifiedTls()).build();

    private KubeletProbe() {
    }

    /** The client for {@code url}: plain for http:, certificate not verified for https:. */
    public static HttpClient client(String url) {
        return url.startsWith("https:") ? UNVERIFIED_TLS : PLAIN;
    }

    private static javax.net.ssl.SSLContext unverifiedTls() {
        try {
            javax.net.ssl.SSLContext context = javax.net.ssl.SSLContext.getInstance("TLS");
            context.init(null, new javax.net.ssl.TrustManager[] {new javax.net.ssl.X509ExtendedTrustManager() {
                public void checkClientTrusted(X509Certificate[] c, String a, java.net.Socket s) { }
                public void checkServerTrusted(X509Certificate[] c, String a, java.net.Socket s) { }
                public void checkClientTrusted(X509Certificate[] c, String a, javax.net.ssl.SSLEngine e) { }
                public void checkServerTrusted(X509Certificate[] c, String a, javax.net.ssl.SSLEngine e) { }
                public void checkClientTrusted(X509Certificate[] c, String a) { }
                public void checkServerTrusted(X509Certificate[] c, String a) { }
                public X509Certificate[] getAcceptedIssuers() {
                    return new X509Certificate[0];
                }
            }}, null);
            return context;
        } catch (java.security.GeneralSecurityException e) {
            throw new IllegalStateException(e);
        }
    }
}
