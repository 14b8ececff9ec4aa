package dev.weft.testing.kubeapi;

import io.fabric8.kubernetes.client.Config;
import io.fabric8.kubernetes.client.http.HttpClient;

import java.util.ServiceLoader;

/**
 * The fabric8 HTTP client factory of a service's tests: the factory the client would have used (the highest-priority
 * other one on the class path, in Quarkus its Vert.x factory), with {@link RequestLog} as an interceptor on every
 * client it builds. fabric8 picks the factory with the highest priority, so being on the test class path is enough.
 */
public final class RecordingHttpClientFactory implements HttpClient.Factory {

    private final HttpClient.Factory delegate;

    public RecordingHttpClientFactory() {
        HttpClient.Factory best = null;
        for (ClassLoader cl : new ClassLoader[] {Thread.currentThread().getContextClassLoader(), RecordingHttpClientFactory.class.getClassLoader()}) {
            if (cl == null) {
                continue;
            }
            // By type first: instantiating this class again from here would recurse.
            for (var provider : ServiceLoader.load(HttpClient.Factory.class, cl).stream()
                    .filter(p -> p.type() != RecordingHttpClientFactory.class).toList()) {
                HttpClient.Factory f = provider.get();
                if (best == null || f.priority() > best.priority()) {
                    best = f;
                }
            }
            if (best != null) {
                break;
            }
        }
        if (best == null) {
            throw new IllegalStateException("no fabric8 HttpClient.Factory besides the recorder on the class path");
        }
        this.delegate = best;
    }

    @Override
    public HttpClient.Builder newBuilder(Config config) {
        return record(delegate.newBuilder(config));
    }

    @Override
    public HttpClient.Builder newBuilder() {
        return record(delegate.newBuilder());
    }

    private static HttpClient.Builder record(HttpClient.Builder builder) {
        builder.addOrReplaceInterceptor(RequestLog.class.getName(), RequestLog.INSTANCE);
        return builder;
    }

    @Override
    public int priority() {
        return Integer.MAX_VALUE;
    }
}
