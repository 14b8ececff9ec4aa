package dev.weft.agent;

import dev.weft.proto.agent.v1.AgentQueryGrpc;
import io.grpc.Server;
import io.grpc.netty.NettyServerBuilder;
import io.netty.channel.EventLoopGroup;
import io.netty.channel.epoll.EpollEventLoopGroup;
import io.netty.channel.epoll.EpollServerDomainSocketChannel;
import io.netty.channel.unix.DomainSocketAddress;
import io.quarkus.grpc.GrpcService;
import io.quarkus.runtime.ShutdownEvent;
import io.quarkus.runtime.StartupEvent;
import jakarta.enterprise.context.ApplicationScoped;
import jakarta.enterprise.event.Observes;
import jakarta.inject.Inject;
import org.jboss.logging.Logger;

import java.io.IOException;
import java.io.UncheckedIOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.attribute.PosixFilePermissions;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.concurrent.TimeUnit;

/**
 * The agent's local query API on a UNIX socket ({@code agent.local-api-socket}, mode 0600): weftctl on the node reaches
 * it as root without a token, and nothing off the node can. A gRPC server of its own (grpc-netty on epoll, workers
 * that may block, as the OpenFlow and OVSDB queries do) serving the same AgentQuery service as the HTTP port.
 */
@ApplicationScoped
public class LocalApiServer {

    private static final Logger LOG = Logger.getLogger(LocalApiServer.class);

    @Inject
    AgentConfig config;

    /** Quarkus' own binding of the AgentQuery bean (the one its HTTP port serves). */
    @Inject
    @GrpcService
    jakarta.enterprise.inject.Instance<io.grpc.BindableService> services;

    private Server server;
    private EventLoopGroup group;
    private ExecutorService workers;

    void start(@Observes StartupEvent e) {
        Path socket = config.localApiSocket();
        try {
            Files.createDirectories(socket.toAbsolutePath().getParent());
            // A socket file left by a previous agent would make bind fail; nobody else may own this path.
            Files.deleteIfExists(socket);
            group = new EpollEventLoopGroup(1);
            workers = Executors.newFixedThreadPool(4, Thread.ofPlatform().daemon().name("local-api-", 0).factory());
            server = NettyServerBuilder.forAddress(new DomainSocketAddress(socket.toString()))
                    .channelType(EpollServerDomainSocketChannel.class)
                    .bossEventLoopGroup(group).workerEventLoopGroup(group).executor(workers)
                    .addService(agentQuery())
                    .build().start();
            Files.setPosixFilePermissions(socket, PosixFilePermissions.fromString("rw-------"));
            LOG.infof("Local query API (weftctl) listening on %s", socket);
        } catch (IOException ex) {
            stop(null);
            throw new UncheckedIOException("cannot serve the local query API on " + socket, ex);
        }
    }

    private io.grpc.BindableService agentQuery() {
        for (io.grpc.BindableService s : services) {
            if (s.bindService().getServiceDescriptor().getName().equals(AgentQueryGrpc.SERVICE_NAME)) {
                return s;
            }
        }
        throw new IllegalStateException("no " + AgentQueryGrpc.SERVICE_NAME + " service to serve on the local socket");
    }

    void stop(@Observes ShutdownEvent e) {
        if (server != null) {
            server.shutdownNow();
            try {
                server.awaitTermination(2, TimeUnit.SECONDS);
            } catch (InterruptedException ie) {
                Thread.currentThread().interrupt();
            }
            try {
                Files.deleteIfExists(config.localApiSocket());
            } catch (IOException ex) {
                LOG.debugf("leaving %s: %s", config.localApiSocket(), ex.getMessage());
            }
        }
        if (workers != null) {
            workers.shutdownNow();
        }
        if (group != null) {
            group.shutdownGracefully(0, 1, TimeUnit.SECONDS);
        }
    }
}
