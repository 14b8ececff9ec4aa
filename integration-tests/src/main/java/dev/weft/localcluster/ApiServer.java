package dev.weft.localcluster;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.node.ObjectNode;
import io.fabric8.kubernetes.api.model.NamespaceBuilder;
import io.fabric8.kubernetes.client.KubernetesClient;
import io.fabric8.kubernetes.client.KubernetesClientBuilder;
import io.fabric8.kubernetes.client.server.mock.KubernetesCrudDispatcher;
import io.fabric8.kubernetes.client.server.mock.KubernetesMockServer;
import io.fabric8.mockwebserver.Context;
import io.fabric8.mockwebserver.MockWebServer;
import io.fabric8.mockwebserver.dsl.HttpMethod;
import io.fabric8.mockwebserver.http.Buffer;
import io.fabric8.mockwebserver.http.MockResponse;
import io.fabric8.mockwebserver.http.RecordedRequest;

import java.io.IOException;
import java.io.InputStream;
import java.io.UncheckedIOException;
import java.net.InetAddress;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import java.util.concurrent.CountDownLatch;

/**
 * A standalone Kubernetes API server for the local cluster: the fabric8 mock server in CRUD mode on loopback, plus what a
 * real API server adds and the CRUD server lacks.
 * <ul>
 *   <li>uid, creationTimestamp, generation and a cluster-wide resourceVersion are already set by the 7.x CRUD dispatcher;
 *       watches deliver ADDED/MODIFIED/DELETED, which is what fabric8 informers need (list, then watch);</li>
 *   <li>the immutable label {@code kubernetes.io/metadata.name} on every Namespace (namespaceSelector relies on it);</li>
 *   <li>the built-in namespaces default, kube-system, kube-public, kube-node-lease;</li>
 *   <li>legacy discovery documents (/api, /apis, group versions) and /version, so {@code kubectl} can talk to it;</li>
 *   <li>bound ServiceAccount tokens: TokenRequest ({@code POST .../serviceaccounts/SA/token} with a Pod as bound object)
 *       and TokenReview, by {@link ServiceAccountTokens}, so the control plane's caller identity runs here as on a real
 *       cluster.</li>
 * </ul>
 * Usage: {@code ApiServer --port P [--port-file FILE] [--also-listen ADDRESS]}; port 0 picks a free port, written to the
 * port file once serving. {@code --also-listen} serves the same port on another local address too (the
 * the root namespace's address on the underlay, which the node namespaces reach), by relaying its connections to loopback.
 */
public final class ApiServer implements AutoCloseable {

    static final String NAMESPACE_NAME_LABEL = "kubernetes.io/metadata.name";
    private static final ObjectMapper JSON = new ObjectMapper();
    private static final List<String> BUILT_IN_NAMESPACES = List.of("default", "kube-system", "kube-public", "kube-node-lease");

    private final KubernetesMockServer server;

    private ApiServer(KubernetesMockServer server) {
        this.server = server;
    }

    /** Starts serving on 127.0.0.1:port (0 = any free port) with the built-in namespaces created. */
    public static ApiServer start(int port) {
        var server = new KubernetesMockServer(new Context(), new MockWebServer(), new HashMap<>(), new Dispatcher(), false);
        server.init(InetAddress.getLoopbackAddress(), port);
        var apiServer = new ApiServer(server);
        try (KubernetesClient client = apiServer.client()) {
            for (String ns : BUILT_IN_NAMESPACES) {
                client.namespaces().resource(new NamespaceBuilder().withNewMetadata().withName(ns).endMetadata().build()).create();
            }
        }
        return apiServer;
    }

    public int port() {
        return server.getPort();
    }

    public String url() {
        return "http://127.0.0.1:" + port();
    }

    public KubernetesClient client() {
        return new KubernetesClientBuilder().withConfig(Kube.config(url())).build();
    }

    @Override
    public void close() {
        server.destroy();
    }

    public static void main(String[] args) throws Exception {
        // One line per request at INFO would drown the log of a long-running cluster.
        java.util.logging.Logger.getLogger("io.fabric8.mockwebserver").setLevel(java.util.logging.Level.WARNING);
        int port = 0;
        Path portFile = null;
        String alsoListen = null;
        for (int i = 0; i < args.length; i++) {
            switch (args[i]) {
                case "--port" -> port = Integer.parseInt(args[++i]);
                case "--port-file" -> portFile = Path.of(args[++i]);
                case "--also-listen" -> alsoListen = args[++i];
                default -> throw new IllegalArgumentException("unknown argument " + args[i] + "; usage: ApiServer --port P [--port-file F]");
            }
        }
        ApiServer apiServer = start(port);
        Runtime.getRuntime().addShutdownHook(new Thread(apiServer::close));
        System.out.println("Kubernetes API (fabric8 CRUD server) listening on " + apiServer.url());
        if (alsoListen != null) {
            relay(InetAddress.getByName(alsoListen), apiServer.port());
            System.out.println("  and on http://" + alsoListen + ":" + apiServer.port());
        }
        if (portFile != null) {
            Path tmp = portFile.resolveSibling(portFile.getFileName() + ".tmp");
            Files.writeString(tmp, Integer.toString(apiServer.port()));
            Files.move(tmp, portFile, java.nio.file.StandardCopyOption.ATOMIC_MOVE);
        }
        new CountDownLatch(1).await();
    }

    /** Accepts on address:port and relays each connection to 127.0.0.1:port, both directions, until either side closes. */
    static void relay(InetAddress address, int port) throws IOException {
        java.net.ServerSocket listener = new java.net.ServerSocket(port, 128, address);
        Thread.ofVirtual().start(() -> {
            while (!listener.isClosed()) {
                try {
                    java.net.Socket from = listener.accept();
                    Thread.ofVirtual().start(() -> {
                        try (from; java.net.Socket to = new java.net.Socket(InetAddress.getLoopbackAddress(), port)) {
                            Thread back = Thread.ofVirtual().start(() -> pipe(to, from));
                            pipe(from, to);
                            back.join();
                        } catch (IOException | InterruptedException e) {
                            // one connection lost; the listener goes on
                        }
                    });
                } catch (IOException e) {
                    if (listener.isClosed()) {
                        return;
                    }
                }
            }
        });
    }

    private static void pipe(java.net.Socket in, java.net.Socket out) {
        try {
            in.getInputStream().transferTo(out.getOutputStream());
            out.shutdownOutput();
        } catch (IOException e) {
            try {
                in.close();
                out.close();
            } catch (IOException ignored) {
                // closing anyway
            }
        }
    }

    /** The CRUD dispatcher with the additions of a real API server. */
    static final class Dispatcher extends KubernetesCrudDispatcher {
        private final Map<String, String> discovery = loadDiscovery();
        private final ServiceAccountTokens tokens = new ServiceAccountTokens();

        @Override
        public MockResponse dispatch(RecordedRequest request) {
            String path = request.getPath();
            String bare = path.contains("?") ? path.substring(0, path.indexOf('?')) : path;
            if (bare.startsWith("/openapi/")) {
                // No OpenAPI documents: kubectl then validates without a schema (or use --validate=false).
                return new MockResponse().setResponseCode(404).setHeader("Content-Type", "application/json")
                        .setBody("{\"kind\":\"Status\",\"apiVersion\":\"v1\",\"status\":\"Failure\",\"reason\":\"NotFound\",\"code\":404}");
            }
            if ("GET".equalsIgnoreCase(request.getMethod())) {
                String doc = discovery.get(bare.endsWith("/") && bare.length() > 1 ? bare.substring(0, bare.length() - 1) : bare);
                if (doc != null) {
                    return new MockResponse().setResponseCode(200).setHeader("Content-Type", "application/json").setBody(doc);
                }
            }
            if ("POST".equalsIgnoreCase(request.getMethod()) && bare.equals("/apis/authentication.k8s.io/v1/tokenreviews")) {
                return tokenReview(request);
            }
            java.util.regex.Matcher tokenRequest = TOKEN_REQUEST.matcher(bare);
            if ("POST".equalsIgnoreCase(request.getMethod()) && tokenRequest.matches()) {
                return tokenRequest(request, tokenRequest.group(1), tokenRequest.group(2));
            }
            if (isNamespaceWrite(request.getMethod(), bare)) {
                request = withNamespaceNameLabel(request);
            }
            MockResponse response = super.dispatch(request);
            if (response != null && "PATCH".equalsIgnoreCase(request.getMethod()) && bare.matches("/api/v1/namespaces/[^/]+")
                    && response.code() / 100 == 2) {
                response = relabelPatchedNamespace(request, response);
            }
            if (response != null && response.getHeaders().header("Content-Type") == null) {
                response.setHeader("Content-Type", "application/json");
            }
            return response;
        }

        private static final java.util.regex.Pattern TOKEN_REQUEST =
                java.util.regex.Pattern.compile("/api/v1/namespaces/([^/]+)/serviceaccounts/([^/]+)/token");

        /** The pod as stored now (through the CRUD store itself). */
        private java.util.Optional<ServiceAccountTokens.BoundPod> pod(RecordedRequest like, String namespace, String name) {
            MockResponse r = super.dispatch(new RecordedRequest(like.getHttpVersion(), HttpMethod.GET,
                    "/api/v1/namespaces/" + namespace + "/pods/" + name, like.getHeaders(), new Buffer()));
            if (r == null || r.code() != 200) {
                return java.util.Optional.empty();
            }
            try {
                JsonNode pod = JSON.readTree(r.getBody().readUtf8());
                return java.util.Optional.of(new ServiceAccountTokens.BoundPod(pod.path("metadata").path("uid").asText(),
                        pod.path("spec").path("nodeName").asText(), pod.path("spec").path("serviceAccountName").asText("default")));
            } catch (IOException e) {
                return java.util.Optional.empty();
            }
        }

        /** TokenRequest for a token bound to a pod of that ServiceAccount (the only kind the local cluster issues). */
        private MockResponse tokenRequest(RecordedRequest request, String namespace, String serviceAccount) {
            try {
                ObjectNode body = (ObjectNode) JSON.readTree(request.getUtf8Body());
                JsonNode spec = body.path("spec");
                JsonNode bound = spec.path("boundObjectRef");
                if (!"Pod".equals(bound.path("kind").asText())) {
                    return status(400, "BadRequest", "the local API server issues tokens bound to a Pod only (spec.boundObjectRef.kind: Pod)");
                }
                String podName = bound.path("name").asText();
                var pod = pod(request, namespace, podName);
                if (pod.isEmpty() || (bound.hasNonNull("uid") && !bound.path("uid").asText().equals(pod.get().uid()))) {
                    return status(404, "NotFound", "pod " + namespace + "/" + podName + " with uid " + bound.path("uid").asText() + " not found");
                }
                if (!pod.get().serviceAccount().equals(serviceAccount)) {
                    return status(400, "BadRequest", "pod " + namespace + "/" + podName + " runs as ServiceAccount "
                            + pod.get().serviceAccount() + ", not " + serviceAccount);
                }
                List<String> audiences = new java.util.ArrayList<>();
                spec.path("audiences").forEach(a -> audiences.add(a.asText()));
                if (audiences.isEmpty()) {
                    audiences.add(ServiceAccountTokens.API_AUDIENCE);
                }
                long expiration = Math.max(600, spec.path("expirationSeconds").asLong(3600));
                java.time.Instant now = java.time.Instant.now();
                String token = tokens.issue(namespace, serviceAccount, podName, pod.get(), audiences, expiration, now);
                ((ObjectNode) body.with("spec")).put("expirationSeconds", expiration);
                body.putObject("status").put("token", token)
                        .put("expirationTimestamp", now.plusSeconds(expiration).truncatedTo(java.time.temporal.ChronoUnit.SECONDS).toString());
                body.put("kind", "TokenRequest").put("apiVersion", "authentication.k8s.io/v1");
                return new MockResponse().setResponseCode(201).setHeader("Content-Type", "application/json").setBody(JSON.writeValueAsString(body));
            } catch (IOException | ClassCastException e) {
                return status(400, "BadRequest", "not a TokenRequest: " + e.getMessage());
            }
        }

        private MockResponse tokenReview(RecordedRequest request) {
            try {
                ObjectNode body = (ObjectNode) JSON.readTree(request.getUtf8Body());
                List<String> audiences = new java.util.ArrayList<>();
                body.path("spec").path("audiences").forEach(a -> audiences.add(a.asText()));
                body.set("status", tokens.review(body.path("spec").path("token").asText(), audiences,
                        (ns, name) -> pod(request, ns, name), java.time.Instant.now()));
                body.put("kind", "TokenReview").put("apiVersion", "authentication.k8s.io/v1");
                return new MockResponse().setResponseCode(201).setHeader("Content-Type", "application/json").setBody(JSON.writeValueAsString(body));
            } catch (IOException | ClassCastException e) {
                return status(400, "BadRequest", "not a TokenReview: " + e.getMessage());
            }
        }

        private static MockResponse status(int code, String reason, String message) {
            ObjectNode s = JSON.createObjectNode().put("kind", "Status").put("apiVersion", "v1").put("status", "Failure")
                    .put("reason", reason).put("message", message).put("code", code);
            return new MockResponse().setResponseCode(code).setHeader("Content-Type", "application/json").setBody(s.toString());
        }

        /** A patch may drop the label; the real API server puts it back, so do we (as a replace of the patched object). */
        private MockResponse relabelPatchedNamespace(RecordedRequest patch, MockResponse patched) {
            try {
                JsonNode body = JSON.readTree(patched.getBody().readUtf8());
                String name = body.path("metadata").path("name").asText();
                if (name.equals(body.path("metadata").path("labels").path(NAMESPACE_NAME_LABEL).asText(null))) {
                    return new MockResponse().setResponseCode(patched.code()).setBody(JSON.writeValueAsString(body));
                }
                RecordedRequest put = new RecordedRequest(patch.getHttpVersion(), HttpMethod.PUT, "/api/v1/namespaces/" + name,
                        patch.getHeaders(), new Buffer(JSON.writeValueAsBytes(body)));
                return super.dispatch(withNamespaceNameLabel(put));
            } catch (IOException e) {
                return patched;
            }
        }

        private static boolean isNamespaceWrite(String method, String path) {
            return ("POST".equalsIgnoreCase(method) && path.equals("/api/v1/namespaces"))
                    || ("PUT".equalsIgnoreCase(method) && path.matches("/api/v1/namespaces/[^/]+"));
        }

        /** Adds {@code kubernetes.io/metadata.name=<name>} as the NamespaceLifecycle admission of a real API server does. */
        private static RecordedRequest withNamespaceNameLabel(RecordedRequest request) {
            try {
                JsonNode body = JSON.readTree(request.getUtf8Body());
                if (!(body instanceof ObjectNode object) || !(object.get("metadata") instanceof ObjectNode metadata)
                        || !metadata.hasNonNull("name")) {
                    return request; // let the dispatcher reject it with its own validation message
                }
                ObjectNode labels = metadata.get("labels") instanceof ObjectNode l ? l : metadata.putObject("labels");
                labels.put(NAMESPACE_NAME_LABEL, metadata.get("name").asText());
                byte[] bytes = JSON.writeValueAsBytes(object);
                return new RecordedRequest(request.getHttpVersion(), HttpMethod.valueOf(request.getMethod().toUpperCase()),
                        request.getPath(), request.getHeaders(), new Buffer(bytes));
            } catch (IOException e) {
                return request;
            }
        }

        private static Map<String, String> loadDiscovery() {
            Map<String, String> docs = new HashMap<>();
            Map<String, String> files = Map.of(
                    "/api", "api.json", "/api/v1", "api-v1.json", "/apis", "apis.json",
                    "/apis/apps/v1", "apps-v1.json", "/apis/networking.k8s.io/v1", "networking-v1.json",
                    "/version", "version.json");
            files.forEach((path, file) -> {
                try (InputStream in = ApiServer.class.getResourceAsStream("/apiserver/" + file)) {
                    if (in == null) {
                        throw new IllegalStateException("missing resource /apiserver/" + file);
                    }
                    docs.put(path, new String(in.readAllBytes(), StandardCharsets.UTF_8));
                } catch (IOException e) {
                    throw new UncheckedIOException(e);
                }
            });
            return docs;
        }
    }
}
