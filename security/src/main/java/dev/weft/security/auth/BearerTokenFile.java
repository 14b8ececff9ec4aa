package dev.weft.security.auth;

import io.grpc.CallOptions;
import io.grpc.Channel;
import io.grpc.ClientCall;
import io.grpc.ClientInterceptor;
import io.grpc.ForwardingClientCall;
import io.grpc.Metadata;
import io.grpc.MethodDescriptor;
import io.grpc.Status;

import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.attribute.FileTime;

/**
 * Sends the ServiceAccount token in a file as {@code authorization: Bearer <token>} on every call. The kubelet
 * rotates a projected token by swapping the file (a symlink change), so the file's modification time is checked on
 * each call and the token re-read when it changed; a token that cannot be read fails the call with UNAUTHENTICATED
 * and says which file, rather than sending a call the server must refuse anyway.
 */
public final class BearerTokenFile implements ClientInterceptor {

    private record Read(FileTime modified, long size, String token) {
    }

    private final Path file;
    private volatile Read last;

    public BearerTokenFile(Path file) {
        this.file = file;
    }

    public Path file() {
        return file;
    }

    /** The current token, re-read if the file changed since the last call. */
    public String token() throws IOException {
        FileTime modified = Files.getLastModifiedTime(file);
        long size = Files.size(file);
        Read r = last;
        if (r != null && r.modified().equals(modified) && r.size() == size) {
            return r.token();
        }
        String token = Files.readString(file, StandardCharsets.UTF_8).strip();
        if (token.isEmpty()) {
            throw new IOException("the token file " + file + " is empty");
        }
        last = new Read(modified, size, token);
        return token;
    }

    @Override
    public <Q, A> ClientCall<Q, A> interceptCall(MethodDescriptor<Q, A> method, CallOptions options, Channel next) {
        String token;
        try {
            token = token();
        } catch (IOException | RuntimeException e) {
            return new FailedCall<>(Status.UNAUTHENTICATED.withDescription("cannot read the ServiceAccount token for "
                    + method.getFullMethodName() + " from " + file + ": " + e.getMessage()));
        }
        return new ForwardingClientCall.SimpleForwardingClientCall<>(next.newCall(method, options)) {
            @Override
            public void start(Listener<A> listener, Metadata headers) {
                headers.put(AuthInterceptor.AUTHORIZATION, "Bearer " + token);
                super.start(listener, headers);
            }
        };
    }

    /** A call that ends with the given status as soon as it starts. */
    private static final class FailedCall<Q, A> extends ClientCall<Q, A> {
        private final Status status;

        FailedCall(Status status) {
            this.status = status;
        }

        @Override
        public void start(Listener<A> listener, Metadata headers) {
            listener.onClose(status, new Metadata());
        }

        @Override
        public void request(int n) {
        }

        @Override
        public void cancel(String message, Throwable cause) {
        }

        @Override
        public void halfClose() {
        }

        @Override
        public void sendMessage(Q message) {
        }
    }
}
