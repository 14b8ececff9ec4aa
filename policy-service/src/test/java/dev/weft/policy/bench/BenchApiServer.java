package dev.weft.policy.bench;

import io.fabric8.kubernetes.api.model.GenericKubernetesResource;
import io.fabric8.kubernetes.api.model.HasMetadata;
import io.fabric8.kubernetes.client.KubernetesClient;
import io.fabric8.kubernetes.client.server.mock.KubernetesAttributesExtractor;
import io.fabric8.kubernetes.client.server.mock.KubernetesCrudDispatcher;
import io.fabric8.kubernetes.client.server.mock.KubernetesMockServer;
import io.fabric8.kubernetes.client.utils.Serialization;
import io.fabric8.mockwebserver.Context;
import io.fabric8.mockwebserver.MockWebServer;
import io.fabric8.mockwebserver.crud.Attribute;
import io.fabric8.mockwebserver.crud.AttributeSet;

import java.net.InetAddress;
import java.time.ZoneOffset;
import java.time.ZonedDateTime;
import java.time.format.DateTimeFormatter;
import java.time.temporal.ChronoUnit;
import java.util.AbstractMap;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import java.util.Set;
import java.util.UUID;
import java.util.concurrent.ConcurrentHashMap;

/**
 * The fabric8 CRUD API server (as PolicyHaIT and the local cluster use) on loopback, with a bulk load for the
 * benchmark's 110,000 objects. The CRUD server checks a create for an existing object by scanning every stored
 * object, so creating scenario (b) through HTTP is quadratic (hours); {@link #load} stores each object the way a
 * create does (uid, resourceVersion, creationTimestamp, the same storage call) without that scan. Everything after
 * the load - policy-service's lists and watches, the benchmark's PATCHes - goes through HTTP as with any API server.
 */
final class BenchApiServer implements AutoCloseable {

    private final Dispatcher dispatcher = new Dispatcher();
    private final KubernetesMockServer server =
            new KubernetesMockServer(new Context(), new MockWebServer(), new HashMap<>(), dispatcher, false);

    BenchApiServer() {
        java.util.logging.Logger.getLogger("io.fabric8.mockwebserver").setLevel(java.util.logging.Level.WARNING);
        server.init(InetAddress.getLoopbackAddress(), 0);
    }

    String url() {
        return "http://127.0.0.1:" + server.getPort();
    }

    KubernetesClient client() {
        return server.createClient();
    }

    /** Stores objects as a create would, before anyone lists or watches them. */
    void load(List<? extends HasMetadata> objects, String plural, String apiPrefix) {
        String created = ZonedDateTime.now(ZoneOffset.UTC).truncatedTo(ChronoUnit.SECONDS)
                .format(DateTimeFormatter.ISO_OFFSET_DATE_TIME);
        for (HasMetadata o : objects) {
            var m = o.getMetadata();
            if (m.getUid() == null) {
                m.setUid(UUID.randomUUID().toString());
            }
            m.setResourceVersion(Long.toString(dispatcher.requestResourceVersion()));
            m.setCreationTimestamp(created);
            if (m.getGeneration() == null) {
                m.setGeneration(1L); // as the CRUD server's create does; its PATCH copies it from the stored object
            }
            String path = m.getNamespace() == null ? apiPrefix + "/" + plural
                    : apiPrefix + "/namespaces/" + m.getNamespace() + "/" + plural;
            String json = Serialization.asJson(o);
            GenericKubernetesResource generic = Serialization.unmarshal(json, GenericKubernetesResource.class);
            dispatcher.processEvent(path, dispatcher.getKey(path), null, generic, json);
        }
    }

    @Override
    public void close() {
        server.destroy();
    }

    /** The CRUD dispatcher with its object lookup indexed by name (same keys and matching as the scan). */
    private static final class Dispatcher extends KubernetesCrudDispatcher {
        private final KubernetesAttributesExtractor extractor = new KubernetesAttributesExtractor();
        private final Map<String, Set<AttributeSet>> byName = new ConcurrentHashMap<>();

        Dispatcher() {
            super(List.of());
        }

        @Override
        public void processEvent(String path, AttributeSet pathAttributes, AttributeSet oldAttributes,
                                 GenericKubernetesResource resource, String newState) {
            super.processEvent(path, pathAttributes, oldAttributes, resource, newState);
            if (oldAttributes != null) {
                Set<AttributeSet> keys = byName.get(name(oldAttributes));
                if (keys != null) {
                    keys.remove(oldAttributes);
                }
            }
            if (newState != null) {
                // The key the superclass stored, computed the same way.
                AttributeSet key = resource != null ? extractor.extract(resource) : extractor.fromResource(newState);
                if (!key.containsKey(KubernetesAttributesExtractor.PLURAL)) {
                    key = AttributeSet.merge(pathAttributes, key);
                }
                byName.computeIfAbsent(name(key), n -> ConcurrentHashMap.newKeySet()).add(key);
            }
        }

        @Override
        public Map.Entry<AttributeSet, String> findResource(AttributeSet query) {
            if (query.getAttribute(KubernetesAttributesExtractor.NAME) == null) {
                return super.findResource(query);
            }
            for (AttributeSet key : byName.getOrDefault(name(query), Set.of())) {
                String json = map.get(key);
                if (json != null && key.matches(query)) {
                    return new AbstractMap.SimpleImmutableEntry<>(key, json);
                }
            }
            return null;
        }

        private static String name(AttributeSet attributes) {
            Attribute a = attributes.getAttribute(KubernetesAttributesExtractor.NAME);
            return a == null ? "" : a.getValues().toString();
        }
    }
}
