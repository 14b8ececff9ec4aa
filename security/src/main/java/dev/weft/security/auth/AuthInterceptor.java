package dev.weft.security.auth;

import com.google.protobuf.Descriptors;
import com.google.protobuf.Message;
import io.grpc.Context;
import io.grpc.Contexts;
import io.grpc.ForwardingServerCallListener;
import io.grpc.Metadata;
import io.grpc.ServerCall;
import io.grpc.ServerCallHandler;
import io.grpc.ServerInterceptor;
import io.micrometer.core.instrument.Counter;
import io.micrometer.core.instrument.MeterRegistry;

import java.util.ArrayList;
import java.util.EnumMap;
import java.util.List;
import java.util.Map;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.Executor;
import java.util.function.Consumer;

/**
 * Authenticates every call of a control-plane service and applies its {@link AccessPolicy}: the bearer token is
 * verified ({@link TokenVerifier}), the caller's ServiceAccount must be one the method answers, and for node-scoped
 * methods the request's node field must be the caller's own node (checked on the request message, before the service
 * sees it). The caller is in {@link #CALLER} for the service's code. Refusals close the call with UNAUTHENTICATED,
 * PERMISSION_DENIED or UNAVAILABLE and a message, and count {@code <metric>{reason}}.
 * <p>
 * A token the cache does not know is reviewed off the transport thread; the call's events wait for the verdict
 * (nothing reaches the service before) and the call then continues where the transport runs its callbacks
 * ({@code resume}, the Vert.x context in Quarkus).
 */
public class AuthInterceptor implements ServerInterceptor {

    public static final Context.Key<CallerIdentity> CALLER = Context.key("weft-caller");
    public static final Metadata.Key<String> AUTHORIZATION = Metadata.Key.of("authorization",
            Metadata.ASCII_STRING_MARSHALLER);
    private static final String BEARER = "Bearer ";

    /** Where a call continues once its token is verified off the transport thread. */
    public interface Resumer {
        /** An executor for the call being intercepted now (captured on the transport thread). */
        Executor current();

        /**
         * The Vert.x context the call arrived on (Quarkus' gRPC server on the HTTP port), or the verifier's thread
         * when there is none.
         */
        static Resumer vertxContext() {
            return () -> {
                io.vertx.core.Context c = io.vertx.core.Vertx.currentContext();
                return c == null ? Runnable::run : r -> c.runOnContext(ignored -> r.run());
            };
        }
    }

    private final boolean enabled;
    private final TokenVerifier verifier;
    private final AccessPolicy policy;
    private final Resumer resume;
    private final Map<Refusal.Reason, Counter> refused = new EnumMap<>(Refusal.Reason.class);

    /** From {@code weft.auth.*}, reviewing with the service's Kubernetes client, continuing on the Vert.x context. */
    public AuthInterceptor(AuthConfig config, io.fabric8.kubernetes.client.KubernetesClient client, AccessPolicy policy,
                           MeterRegistry registry, String metric) {
        this(config.enabled(), new TokenVerifier(client, TokenVerifier.Settings.of(config),
                java.time.InstantSource.system()), policy, Resumer.vertxContext(), registry, metric);
    }

    /** Stops the reviews in flight (the service is shutting down). */
    public void close() {
        verifier.close();
    }

    /**
     * @param metric the counter's name, e.g. {@code weft.policy.auth.refused} (Prometheus:
     *               {@code weft_policy_auth_refused_total{reason}})
     */
    public AuthInterceptor(boolean enabled, TokenVerifier verifier, AccessPolicy policy, Resumer resume,
                           MeterRegistry registry, String metric) {
        this.enabled = enabled;
        this.verifier = verifier;
        this.policy = policy;
        this.resume = resume;
        for (Refusal.Reason r : Refusal.Reason.values()) {
            refused.put(r, Counter.builder(metric).tag("reason", r.label())
                    .description("gRPC calls refused by authentication or authorization, by reason").register(registry));
        }
    }

    @Override
    public <Q, A> ServerCall.Listener<Q> interceptCall(ServerCall<Q, A> call, Metadata headers,
                                                       ServerCallHandler<Q, A> next) {
        String method = call.getMethodDescriptor().getFullMethodName();
        if (!enabled || policy.isPublic(method)) {
            return next.startCall(call, headers);
        }
        String header = headers.get(AUTHORIZATION);
        if (header == null || !header.regionMatches(true, 0, BEARER, 0, BEARER.length())
                || header.substring(BEARER.length()).isBlank()) {
            return refuse(call, new Refusal(Refusal.Reason.MISSING, method
                    + " needs an 'authorization: Bearer <ServiceAccount token>' header"));
        }
        CompletableFuture<Verdict> verdict = verifier.verify(header.substring(BEARER.length()).strip());
        // The call's own context (deadline, cancellation), also for a call that continues on another thread.
        Context base = Context.current();
        if (verdict.isDone()) {
            return proceed(verdict.join(), base, method, call, headers, next);
        }
        DeferredListener<Q> deferred = new DeferredListener<>();
        Executor executor = resume.current();
        verdict.thenAcceptAsync(v -> deferred.start(proceed(v, base, method, call, headers, next)), executor);
        return deferred;
    }

    private <Q, A> ServerCall.Listener<Q> proceed(Verdict verdict, Context base, String method, ServerCall<Q, A> call,
                                                  Metadata headers, ServerCallHandler<Q, A> next) {
        CallerIdentity caller;
        switch (verdict) {
            case Verdict.Refused r -> {
                return refuse(call, r.refusal());
            }
            case Verdict.Authenticated a -> caller = a.caller();
        }
        Context context = base.withValue(CALLER, caller);
        return switch (policy.rule(method).decide(caller, method)) {
            case AccessRule.Decision.Deny d -> refuse(call, d.refusal());
            case AccessRule.Decision.Allow x -> Contexts.interceptCall(context, call, headers, next);
            case AccessRule.Decision.OwnNodeOnly own -> checkingRequests(
                    Contexts.interceptCall(context, call, headers, next), call, message -> {
                        String asked = stringField(message, own.nodeField());
                        return caller.nodeName().equals(asked) ? null : new Refusal(Refusal.Reason.NODE, method
                                + " for node '" + asked + "' refused: " + caller + " may ask only for its own node '"
                                + caller.nodeName() + "'");
                    });
        };
    }

    /** Ends the call with the refusal's status and message, counted under its reason; nothing reaches the service. */
    public <Q> ServerCall.Listener<Q> refuse(ServerCall<Q, ?> call, Refusal refusal) {
        refused.get(refusal.reason()).increment();
        call.close(refusal.status(), new Metadata());
        return new ServerCall.Listener<>() {
        };
    }

    /** A check of each request message before the service sees it: the refusal, or null to pass the message on. */
    @FunctionalInterface
    public interface RequestCheck {
        Refusal check(Object message);
    }

    /**
     * Passes requests on to {@code delegate} while {@code check} accepts them; the first one it refuses ends the call
     * ({@link #refuse}) and nothing more reaches the service.
     */
    public <Q> ServerCall.Listener<Q> checkingRequests(ServerCall.Listener<Q> delegate, ServerCall<Q, ?> call,
                                                       RequestCheck check) {
        return new CheckedRequests<>(delegate, call, check);
    }

    private final class CheckedRequests<Q> extends ForwardingServerCallListener.SimpleForwardingServerCallListener<Q> {
        private final ServerCall<Q, ?> call;
        private final RequestCheck check;
        private boolean refusedCall;

        CheckedRequests(ServerCall.Listener<Q> delegate, ServerCall<Q, ?> call, RequestCheck check) {
            super(delegate);
            this.call = call;
            this.check = check;
        }

        @Override
        public void onMessage(Q message) {
            if (refusedCall) {
                return;
            }
            Refusal refusal = check.check(message);
            if (refusal != null) {
                refusedCall = true;
                refuse(call, refusal);
                return;
            }
            super.onMessage(message);
        }

        @Override
        public void onHalfClose() {
            if (!refusedCall) {
                super.onHalfClose();
            }
        }

        @Override
        public void onReady() {
            if (!refusedCall) {
                super.onReady();
            }
        }
    }

    /** A request's single string field {@code name}, or "" when the message has none. */
    private static String stringField(Object message, String name) {
        if (message instanceof Message m) {
            Descriptors.FieldDescriptor f = m.getDescriptorForType().findFieldByName(name);
            if (f != null && f.getJavaType() == Descriptors.FieldDescriptor.JavaType.STRING && !f.isRepeated()) {
                return (String) m.getField(f);
            }
        }
        return "";
    }

    /** Holds a call's events until the verdict is in, then hands them, in order, to the listener it chose. */
    static final class DeferredListener<Q> extends ServerCall.Listener<Q> {
        private final List<Consumer<ServerCall.Listener<Q>>> pending = new ArrayList<>();
        private ServerCall.Listener<Q> delegate;

        void start(ServerCall.Listener<Q> listener) {
            while (true) {
                List<Consumer<ServerCall.Listener<Q>>> batch;
                synchronized (this) {
                    if (pending.isEmpty()) {
                        delegate = listener;
                        return;
                    }
                    batch = new ArrayList<>(pending);
                    pending.clear();
                }
                batch.forEach(e -> e.accept(listener));
            }
        }

        private void event(Consumer<ServerCall.Listener<Q>> e) {
            ServerCall.Listener<Q> d;
            synchronized (this) {
                if (delegate == null) {
                    pending.add(e);
                    return;
                }
                d = delegate;
            }
            e.accept(d);
        }

        @Override
        public void onMessage(Q message) {
            event(l -> l.onMessage(message));
        }

        @Override
        public void onHalfClose() {
            event(ServerCall.Listener::onHalfClose);
        }

        @Override
        public void onCancel() {
            event(ServerCall.Listener::onCancel);
        }

        @Override
        public void onComplete() {
            event(ServerCall.Listener::onComplete);
        }

        @Override
        public void onReady() {
            event(ServerCall.Listener::onReady);
        }
    }
}
