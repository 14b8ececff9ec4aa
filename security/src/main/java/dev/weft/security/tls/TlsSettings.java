package dev.weft.security.tls;

import io.smallrye.config.ConfigMapping;
import io.smallrye.config.WithDefault;

import java.nio.file.Path;
import java.time.Duration;
import java.util.List;
import java.util.Optional;

/**
 * {@code weft.tls.*}: where a control-plane service's serving certificate comes from. With {@code cert-file} and
 * {@code key-file} set (cert-manager's Secret mounted) the files are served and re-read when they change; otherwise
 * the service manages its own CA in the API (docs/security.md).
 */
@ConfigMapping(prefix = "weft.tls")
public interface TlsSettings {

    /** Build time: true in the services that serve TLS (it makes the ServingTls bean exist). */
    @WithDefault("false")
    boolean serve();

    /**
     * Runtime: false serves no certificate and touches no CA (then quarkus.http.tls-configuration-name must be
     * empty and quarkus.http.insecure-requests enabled: plaintext). For harnesses that cannot run TLS yet.
     */
    @WithDefault("true")
    boolean enabled();

    /** Name of the Quarkus TLS registry configuration; quarkus.http.tls-configuration-name refers to it. */
    @WithDefault("weft")
    String configurationName();

    /** DNS names in the serving certificate; the first one is also its CN and the name clients verify. */
    Optional<List<String>> serverNames();

    /** Namespace of the CA Secret and the CA bundle ConfigMap. */
    @WithDefault("weft-system")
    String namespace();

    @WithDefault("weft-ca")
    String caSecret();

    @WithDefault("weft-ca")
    String caConfigMap();

    /** Lifetime of a self-managed CA. */
    @WithDefault("87600h")
    Duration caValidity();

    /** Lifetime of a self-managed serving certificate; it is renewed at two thirds of it. */
    @WithDefault("720h")
    Duration certificateValidity();

    /** How often the certificate's age (self-managed) or the files (file mode) are checked. */
    @WithDefault("1m")
    Duration checkInterval();

    /** How long start-up waits for the API server to read or create the CA. */
    @WithDefault("5m")
    Duration startupTimeout();

    /** File mode: the PEM certificate chain (leaf first), e.g. cert-manager's tls.crt. */
    Optional<Path> certFile();

    /** File mode: the PEM private key, e.g. cert-manager's tls.key. */
    Optional<Path> keyFile();

    /** File mode: the PEM CA bundle (ca.crt); published to the CA bundle ConfigMap for the agents when set. */
    Optional<Path> caFile();
}
