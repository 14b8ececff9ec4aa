package dev.weft.agent.cni;

import com.google.protobuf.InvalidProtocolBufferException;
import dev.weft.proto.cni.v1.CniCall;
import dev.weft.proto.cni.v1.CniReply;
import dev.weft.proto.cni.v1.ErrorCode;
import org.jboss.logging.Logger;

import java.io.IOException;
import java.io.InputStream;
import java.io.OutputStream;
import java.net.StandardProtocolFamily;
import java.net.UnixDomainSocketAddress;
import java.nio.channels.AsynchronousCloseException;
import java.nio.channels.Channels;
import java.nio.channels.ServerSocketChannel;
import java.nio.channels.SocketChannel;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.attribute.PosixFilePermissions;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.concurrent.RejectedExecutionException;
import java.util.concurrent.TimeUnit;

/**
 * The agent's CNI UNIX socket (mode 0600: only local root processes, the kubelet's plugin, reach it; independent of
 * the agent's HTTP port). One connection carries one call: a length-delimited {@link CniCall} in, a length-delimited
 * {@link CniReply} out (see cni.proto for why this is not gRPC). Calls run on a worker pool since they block on
 * netlink tools and OVSDB; a call that cannot be decoded is answered with a CNI decoding error, never dropped.
 */
final class CniSocketServer implements AutoCloseable {

    private static final Logger LOG = Logger.getLogger(CniSocketServer.class);
    /** A CniCall is an environment and a network configuration: far below this unless something is wrong. */
    static final int MAX_CALL_BYTES = 4 << 20;
    private final ServerSocketChannel server;
    private final ExecutorService workers;
    private final Thread acceptor;
    private final Path socket;
    private final CniService service;

    private CniSocketServer(ServerSocketChannel server, ExecutorService workers, Path socket, CniService service) {
        this.server = server;
        this.workers = workers;
        this.socket = socket;
        this.service = service;
        this.acceptor = Thread.ofPlatform().daemon().name("cni-accept").unstarted(this::acceptLoop);
    }

    static CniSocketServer start(Path socket, CniService service) throws IOException {
        Files.createDirectories(socket.toAbsolutePath().getParent());
        // A socket file left by a previous agent would make bind fail; nobody else may own this path.
        Files.deleteIfExists(socket);
        ServerSocketChannel server = ServerSocketChannel.open(StandardProtocolFamily.UNIX);
        ExecutorService workers = Executors.newFixedThreadPool(16, Thread.ofPlatform().daemon().name("cni-", 0).factory());
        try {
            server.bind(UnixDomainSocketAddress.of(socket), 64);
            Files.setPosixFilePermissions(socket, PosixFilePermissions.fromString("rw-------"));
        } catch (IOException | RuntimeException e) {
            server.close();
            workers.shutdownNow();
            throw e;
        }
        CniSocketServer s = new CniSocketServer(server, workers, socket, service);
        s.acceptor.start();
        LOG.infof("CNI server listening on %s", socket);
        return s;
    }

    private void acceptLoop() {
        while (server.isOpen()) {
            SocketChannel conn;
            try {
                conn = server.accept();
            } catch (AsynchronousCloseException e) {
                return;
            } catch (IOException e) {
                if (server.isOpen()) {
                    LOG.warnf("CNI socket %s: accept failed: %s", socket, e.getMessage());
                }
                continue;
            }
            try {
                workers.execute(() -> serve(conn));
            } catch (RejectedExecutionException e) {
                close(conn);
                return;
            }
        }
    }

    private void serve(SocketChannel conn) {
        try (conn) {
            InputStream in = Channels.newInputStream(conn);
            OutputStream out = Channels.newOutputStream(conn);
            CniReply reply;
            try {
                CniCall call = readCall(in);
                if (call == null) {
                    return; // the peer connected and left (a liveness check of the socket, or a killed plugin)
                }
                reply = service.handle(call);
            } catch (InvalidProtocolBufferException e) {
                reply = CniReply.newBuilder().setResponse(CniService.error(ErrorCode.DECODING_FAILURE,
                        "the CNI call on " + socket + " could not be decoded: " + e.getMessage(), "")).build();
            }
            reply.writeDelimitedTo(out);
            out.flush();
        } catch (IOException e) {
            // The plugin went away (the kubelet's timeout killed it): its command still ran; the kubelet retries.
            LOG.debugf("CNI connection on %s: %s", socket, e.getMessage());
        }
    }

    /** One delimited CniCall, bounded in size; null when the peer closed before sending anything. */
    private static CniCall readCall(InputStream in) throws IOException {
        int first = in.read();
        if (first == -1) {
            return null;
        }
        int size = com.google.protobuf.CodedInputStream.readRawVarint32(first, in);
        if (size < 0 || size > MAX_CALL_BYTES) {
            throw new InvalidProtocolBufferException("call of " + size + " bytes (limit " + MAX_CALL_BYTES + ")");
        }
        byte[] body = in.readNBytes(size);
        if (body.length != size) {
            throw new InvalidProtocolBufferException("call truncated: " + body.length + " of " + size + " bytes");
        }
        return CniCall.parseFrom(body);
    }

    private static void close(SocketChannel c) {
        try {
            c.close();
        } catch (IOException e) {
            // nothing left to do
        }
    }

    @Override
    public void close() {
        try {
            server.close();
        } catch (IOException e) {
            // best effort
        }
        acceptor.interrupt();
        workers.shutdown();
        try {
            if (!workers.awaitTermination(5, TimeUnit.SECONDS)) {
                workers.shutdownNow();
            }
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
            workers.shutdownNow();
        }
        try {
            Files.deleteIfExists(socket);
        } catch (IOException e) {
            // best effort
        }
    }
}
