package dev.weft.agent.cni;

import io.grpc.Server;
import io.grpc.netty.NettyServerBuilder;
import io.netty.channel.EventLoopGroup;
import io.netty.channel.epoll.EpollEventLoopGroup;
import io.netty.channel.epoll.EpollServerDomainSocketChannel;
import io.netty.channel.unix.DomainSocketAddress;
import org.jboss.logging.Logger;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.attribute.PosixFilePermissions;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.concurrent.TimeUnit;

/**
 * A second gRPC server (grpc-netty on epoll) bound to the CNI UNIX socket: only local root processes (the kubelet's
 * shim) can reach it, and it is independent of the agent's HTTP port.
 */
final class CniSocketServer implements AutoCloseable {

    private static final Logger LOG = Logger.getLogger(CniSocketServer.class);
    private final Server server;
    private final EventLoopGroup group;
    private final ExecutorService workers;
    private final Path socket;

    private CniSocketServer(Server server, EventLoopGroup group, ExecutorService workers, Path socket) {
        this.server = server;
        this.group = group;
        this.workers = workers;
        this.socket = socket;
    }

    static CniSocketServer start(Path socket, CniGrpcService service) throws IOException {
        Files.createDirectories(socket.toAbsolutePath().getParent());
        // A socket file left by a previous agent would make bind fail; nobody else may own this path.
        Files.deleteIfExists(socket);
        EventLoopGroup group = new EpollEventLoopGroup(1);
        ExecutorService workers = Executors.newFixedThreadPool(16, Thread.ofPlatform().daemon().name("cni-", 0).factory());
        try {
            Server server = NettyServerBuilder.forAddress(new DomainSocketAddress(socket.toString()))
                    .channelType(EpollServerDomainSocketChannel.class)
                    .bossEventLoopGroup(group)
                    .workerEventLoopGroup(group)
                    .executor(workers)
                    .addService(service)
                    .build()
                    .start();
            Files.setPosixFilePermissions(socket, PosixFilePermissions.fromString("rw-------"));
            LOG.infof("CNI server listening on %s", socket);
            return new CniSocketServer(server, group, workers, socket);
        } catch (IOException | RuntimeException e) {
            group.shutdownGracefully(0, 1, TimeUnit.SECONDS);
            workers.shutdownNow();
            throw e;
        }
    }

    @Override
    public void close() {
        server.shutdown();
        try {
            server.awaitTermination(5, TimeUnit.SECONDS);
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
        }
        server.shutdownNow();
        workers.shutdownNow();
        group.shutdownGracefully(0, 1, TimeUnit.SECONDS);
        try {
            Files.deleteIfExists(socket);
        } catch (IOException e) {
            // best effort
        }
    }
}
