package dev.weft.security.tls;

import io.fabric8.kubernetes.api.model.ConfigMap;
import io.fabric8.kubernetes.api.model.ConfigMapBuilder;
import io.fabric8.kubernetes.api.model.Secret;
import io.fabric8.kubernetes.api.model.SecretBuilder;
import io.fabric8.kubernetes.client.KubernetesClient;
import io.fabric8.kubernetes.client.KubernetesClientException;

import java.nio.charset.StandardCharsets;
import java.time.Duration;
import java.time.Instant;
import java.util.Base64;
import java.util.Map;
import java.util.Objects;

/**
 * The control plane's CA in the Kubernetes API: its key in the Secret {@code secretName} (type kubernetes.io/tls,
 * readable only by the services that issue certificates), its certificate in the ConfigMap {@code bundleName} (key
 * {@code ca.crt}, readable by the agents). The first service to start creates both; the API server's create is the
 * arbiter when several start at once (a 409 means another replica won: read what it made).
 */
public final class ControlPlaneCa {

    public static final String BUNDLE_KEY = "ca.crt";
    public static final String CA_COMMON_NAME = "weft-control-plane-ca";

    private ControlPlaneCa() {
    }

    public static CertificateAuthority loadOrCreate(KubernetesClient client, String namespace, String secretName,
            Duration validity, Instant now) {
        Secret existing = client.secrets().inNamespace(namespace).withName(secretName).get();
        if (existing == null) {
            CertificateAuthority created = CertificateAuthority.create(CA_COMMON_NAME, validity, now);
            Secret secret = new SecretBuilder()
                    .withNewMetadata().withName(secretName).withNamespace(namespace)
                    .addToLabels("app.kubernetes.io/part-of", "weft").endMetadata()
                    .withType("kubernetes.io/tls")
                    .withData(Map.of("tls.crt", base64(created.certificatePem()), "tls.key", base64(created.keyPem())))
                    .build();
            try {
                client.secrets().inNamespace(namespace).resource(secret).create();
                return created;
            } catch (KubernetesClientException e) {
                if (e.getCode() != 409) {
                    throw e;
                }
                existing = client.secrets().inNamespace(namespace).withName(secretName).get();
                if (existing == null) {
                    throw new TlsMaterialException("Secret " + namespace + "/" + secretName
                            + " reported as existing (409) but cannot be read", e);
                }
            }
        }
        String what = "Secret " + namespace + "/" + secretName;
        Map<String, String> data = existing.getData() == null ? Map.of() : existing.getData();
        CertificateAuthority ca = CertificateAuthority.fromPem(decode(data.get("tls.crt")), decode(data.get("tls.key")),
                what);
        if (ca.certificate().getNotAfter().toInstant().isBefore(now)) {
            throw new TlsMaterialException(what + ": the CA expired at " + ca.certificate().getNotAfter().toInstant()
                    + "; delete the Secret and the ConfigMap so that a new CA is created, then restart the agents");
        }
        return ca;
    }

    /** Makes the ConfigMap hold exactly this CA's certificate; returns whether it had to write. */
    public static boolean publishBundle(KubernetesClient client, String namespace, String bundleName,
            CertificateAuthority ca) {
        return publishBundlePem(client, namespace, bundleName, ca.certificatePem());
    }

    public static boolean publishBundlePem(KubernetesClient client, String namespace, String bundleName, String pem) {
        for (int attempt = 0; attempt < 5; attempt++) {
            ConfigMap existing = client.configMaps().inNamespace(namespace).withName(bundleName).get();
            try {
                if (existing == null) {
                    client.configMaps().inNamespace(namespace).resource(new ConfigMapBuilder()
                            .withNewMetadata().withName(bundleName).withNamespace(namespace)
                            .addToLabels("app.kubernetes.io/part-of", "weft").endMetadata()
                            .withData(Map.of(BUNDLE_KEY, pem)).build()).create();
                    return true;
                }
                if (existing.getData() != null && Objects.equals(existing.getData().get(BUNDLE_KEY), pem)) {
                    return false;
                }
                existing.setData(Map.of(BUNDLE_KEY, pem));
                client.configMaps().inNamespace(namespace).resource(existing).update();
                return true;
            } catch (KubernetesClientException e) {
                if (e.getCode() != 409) {
                    throw e;
                }
                // Another replica wrote first: read again and compare.
            }
        }
        throw new TlsMaterialException("ConfigMap " + namespace + "/" + bundleName + " kept changing under us");
    }

    /** The CAs published in the bundle ConfigMap; a clear error when it is missing or holds no certificate. */
    public static java.util.List<java.security.cert.X509Certificate> readBundle(KubernetesClient client,
            String namespace, String bundleName) {
        ConfigMap bundle = client.configMaps().inNamespace(namespace).withName(bundleName).get();
        return parseBundle(bundle, namespace, bundleName);
    }

    public static java.util.List<java.security.cert.X509Certificate> parseBundle(ConfigMap bundle, String namespace,
            String bundleName) {
        String what = "ConfigMap " + namespace + "/" + bundleName;
        if (bundle == null) {
            throw new TlsMaterialException(what + " not found (the control-plane services publish it when they start)");
        }
        String pem = bundle.getData() == null ? null : bundle.getData().get(BUNDLE_KEY);
        if (pem == null) {
            throw new TlsMaterialException(what + " has no key " + BUNDLE_KEY);
        }
        return Pem.parseCertificates(pem, what + " " + BUNDLE_KEY);
    }

    private static String base64(String text) {
        return Base64.getEncoder().encodeToString(text.getBytes(StandardCharsets.US_ASCII));
    }

    private static String decode(String base64) {
        if (base64 == null) {
            return "";
        }
        try {
            return new String(Base64.getDecoder().decode(base64), StandardCharsets.US_ASCII);
        } catch (IllegalArgumentException e) {
            throw new TlsMaterialException("Secret data is not base64: " + e.getMessage(), e);
        }
    }
}
