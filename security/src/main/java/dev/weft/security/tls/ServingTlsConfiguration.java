package dev.weft.security.tls;

import io.quarkus.tls.BaseTlsConfiguration;
import io.vertx.core.buffer.Buffer;
import io.vertx.core.net.KeyCertOptions;
import io.vertx.core.net.PemKeyCertOptions;
import io.vertx.core.net.SSLOptions;

import java.util.Set;

/**
 * The TLS registry entry the HTTP server (and so every gRPC service on it) serves with. Its key material is swapped
 * in place on rotation; {@link ServingTls} then fires the registry's CertificateUpdatedEvent, on which the server
 * takes the new options for new handshakes while open connections (gRPC streams) stay up.
 */
final class ServingTlsConfiguration extends BaseTlsConfiguration {

    private volatile ServingCertificate current;

    ServingTlsConfiguration(ServingCertificate initial) {
        this.current = initial;
    }

    void update(ServingCertificate next) {
        this.current = next;
    }

    ServingCertificate current() {
        return current;
    }

    @Override
    public KeyCertOptions getKeyStoreOptions() {
        ServingCertificate c = current;
        return new PemKeyCertOptions().addCertValue(Buffer.buffer(c.chainPem())).addKeyValue(Buffer.buffer(c.keyPem()));
    }

    @Override
    public SSLOptions getSSLOptions() {
        // ALPN carries h2: without it a gRPC client cannot speak HTTP/2 after a rotation.
        return new SSLOptions().setKeyCertOptions(getKeyStoreOptions()).setUseAlpn(true)
                .setEnabledSecureTransportProtocols(Set.of("TLSv1.3", "TLSv1.2"));
    }
}
