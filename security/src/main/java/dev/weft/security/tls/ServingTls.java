package dev.weft.security.tls;

import io.fabric8.kubernetes.client.KubernetesClient;
import io.quarkus.arc.properties.IfBuildProperty;
import io.quarkus.runtime.ShutdownEvent;
import io.quarkus.runtime.StartupEvent;
import io.quarkus.tls.CertificateUpdatedEvent;
import io.quarkus.tls.TlsConfigurationRegistry;
import jakarta.annotation.Priority;
import jakarta.enterprise.event.Event;
import jakarta.enterprise.event.Observes;
import jakarta.inject.Inject;
import jakarta.inject.Singleton;
import jakarta.interceptor.Interceptor;
import org.jboss.logging.Logger;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Clock;
import java.time.Instant;
import java.util.List;
import java.util.concurrent.Executors;
import java.util.concurrent.ScheduledExecutorService;
import java.util.concurrent.TimeUnit;

/**
 * The serving certificate of a control-plane service (ipam-service, policy-service), registered in the Quarkus TLS
 * registry under {@code weft.tls.configuration-name} before the HTTP server opens its port, and kept fresh: renewed
 * from the CA at two thirds of its life (self-managed) or re-read when cert-manager rewrites the files (file mode).
 * A certificate that cannot be read or does not match its key is an error in the log and the old one stays served:
 * a bad update never takes the port down. Present where the build sets {@code weft.tls.serve=true}.
 */
@Singleton
@IfBuildProperty(name = "weft.tls.serve", stringValue = "true")
public class ServingTls {

    private static final Logger LOG = Logger.getLogger(ServingTls.class);

    private final TlsSettings settings;
    private final TlsConfigurationRegistry registry;
    private final Event<CertificateUpdatedEvent> updated;
    private final jakarta.enterprise.inject.Instance<KubernetesClient> kubernetes;
    private final Clock clock;
    private ServingTlsConfiguration configuration;
    private volatile List<java.security.cert.X509Certificate> authorities = List.of();
    private ScheduledExecutorService timer;

    @Inject
    ServingTls(TlsSettings settings, TlsConfigurationRegistry registry, Event<CertificateUpdatedEvent> updated,
            jakarta.enterprise.inject.Instance<KubernetesClient> kubernetes) {
        this.settings = settings;
        this.registry = registry;
        this.updated = updated;
        this.kubernetes = kubernetes;
        this.clock = Clock.systemUTC();
    }

    void onStart(@Observes @Priority(Interceptor.Priority.PLATFORM_BEFORE) StartupEvent event) {
        if (!settings.enabled()) {
            LOG.warn("TLS: weft.tls.enabled=false, no serving certificate (plaintext only)");
            return;
        }
        ServingCertificate first = fileMode() ? readFiles() : issueWithRetry();
        configuration = new ServingTlsConfiguration(first);
        registry.register(settings.configurationName(), configuration);
        LOG.infof("TLS: serving %s, issued by %s, valid until %s, renewal at %s", first.leaf().getSubjectX500Principal(),
                first.leaf().getIssuerX500Principal(), first.notAfter(), fileMode() ? "file change" : first.renewAt());
        timer = Executors.newSingleThreadScheduledExecutor(r -> {
            Thread t = new Thread(r, "weft-tls-rotation");
            t.setDaemon(true);
            return t;
        });
        long period = Math.max(1, settings.checkInterval().toMillis());
        timer.scheduleWithFixedDelay(this::check, period, period, TimeUnit.MILLISECONDS);
    }

    void onStop(@Observes ShutdownEvent event) {
        if (timer != null) {
            timer.shutdownNow();
        }
    }

    /** The CAs clients verify this service against (the self-managed CA, or weft.tls.ca-file). */
    public List<java.security.cert.X509Certificate> authorities() {
        return authorities;
    }

    /** The name clients verify: the first of weft.tls.server-names. */
    public String serverName() {
        return serverNames().getFirst();
    }

    /** The certificate served now. */
    public ServingCertificate current() {
        if (configuration == null) {
            throw new IllegalStateException("TLS is off (weft.tls.enabled=false)");
        }
        return configuration.current();
    }

    /** Issues (self-managed) or re-reads (file mode) now, whatever the age; returns what is served afterwards. */
    public synchronized ServingCertificate rotateNow() {
        ServingCertificate next = fileMode() ? readFiles() : issue();
        install(next);
        return next;
    }

    private synchronized void check() {
        try {
            ServingCertificate now = configuration.current();
            if (fileMode()) {
                ServingCertificate onDisk = readFiles();
                if (!onDisk.leaf().equals(now.leaf())) {
                    install(onDisk);
                }
            } else if (now.dueForRenewal(clock.instant())) {
                install(issue());
            }
        } catch (RuntimeException e) {
            // Keep serving the current certificate; the next check tries again.
            LOG.errorf("TLS: certificate not renewed, still serving the current one (valid until %s): %s",
                    configuration.current().notAfter(), e.getMessage());
        }
    }

    private void install(ServingCertificate next) {
        configuration.update(next);
        updated.fire(new CertificateUpdatedEvent(settings.configurationName(), configuration));
        LOG.infof("TLS: now serving a certificate valid until %s (serial %s)", next.notAfter(),
                next.leaf().getSerialNumber().toString(16));
    }

    private boolean fileMode() {
        return settings.certFile().isPresent() || settings.keyFile().isPresent();
    }

    private List<String> serverNames() {
        List<String> names = settings.serverNames().orElse(List.of());
        if (names.isEmpty()) {
            throw new TlsMaterialException("weft.tls.server-names is empty: the serving certificate needs the "
                    + "Service's DNS names");
        }
        return names;
    }

    private ServingCertificate issue() {
        Instant now = clock.instant();
        CertificateAuthority ca = ControlPlaneCa.loadOrCreate(kubernetes.get(), settings.namespace(),
                settings.caSecret(), settings.caValidity(), now);
        ControlPlaneCa.publishBundle(kubernetes.get(), settings.namespace(), settings.caConfigMap(), ca);
        authorities = List.of(ca.certificate());
        return ca.issue(serverNames(), settings.certificateValidity(), now);
    }

    private ServingCertificate issueWithRetry() {
        Instant deadline = clock.instant().plus(settings.startupTimeout());
        while (true) {
            try {
                return issue();
            } catch (TlsMaterialException e) {
                throw e; // bad material does not get better by waiting
            } catch (RuntimeException e) {
                if (clock.instant().isAfter(deadline)) {
                    throw new TlsMaterialException("TLS: cannot read or create the CA Secret " + settings.namespace()
                            + "/" + settings.caSecret() + " within " + settings.startupTimeout() + ": " + e.getMessage(), e);
                }
                LOG.warnf("TLS: CA not available yet (%s); retrying", e.getMessage());
                try {
                    Thread.sleep(1000);
                } catch (InterruptedException ie) {
                    Thread.currentThread().interrupt();
                    throw new TlsMaterialException("interrupted while waiting for the CA", ie);
                }
            }
        }
    }

    private ServingCertificate readFiles() {
        Path cert = settings.certFile().orElseThrow(() -> new TlsMaterialException(
                "weft.tls.key-file is set but weft.tls.cert-file is not"));
        Path key = settings.keyFile().orElseThrow(() -> new TlsMaterialException(
                "weft.tls.cert-file is set but weft.tls.key-file is not"));
        ServingCertificate served = ServingCertificate.fromPem(read(cert), read(key), cert + " and " + key);
        settings.caFile().ifPresent(caFile -> {
            List<java.security.cert.X509Certificate> cas = Pem.parseCertificates(read(caFile), caFile.toString());
            authorities = cas;
            String pem = Pem.certificates(cas);
            ControlPlaneCa.publishBundlePem(kubernetes.get(), settings.namespace(), settings.caConfigMap(), pem);
        });
        return served;
    }

    private static String read(Path file) {
        try {
            return Files.readString(file);
        } catch (IOException e) {
            throw new TlsMaterialException("cannot read " + file + ": " + e.getMessage(), e);
        }
    }
}
