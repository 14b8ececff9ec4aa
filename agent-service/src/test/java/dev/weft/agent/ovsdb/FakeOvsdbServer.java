package dev.weft.agent.ovsdb;

import com.fasterxml.jackson.core.JsonFactory;
import com.fasterxml.jackson.core.JsonParser;
import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;

import java.io.IOException;
import java.io.InputStream;
import java.io.OutputStream;
import java.net.StandardProtocolFamily;
import java.net.UnixDomainSocketAddress;
import java.nio.channels.Channels;
import java.nio.channels.ServerSocketChannel;
import java.nio.channels.SocketChannel;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import java.util.concurrent.CopyOnWriteArrayList;

/**
 * A stand-in for ovsdb-server on a UNIX socket in a temporary directory, for testing what the client does with
 * whatever a broken or hostile peer sends. For each request it reads (a JSON value), it writes the bytes
 * {@link Script#reply} returns; {@link Script#onConnect} bytes are written before anything is read.
 */
final class FakeOvsdbServer implements AutoCloseable {

    interface Script {
        /** Bytes to send as soon as a client connects (none by default). */
        default byte[] onConnect() {
            return new byte[0];
        }

        /** Bytes to send in answer to one request; null sends nothing (a silent server). */
        byte[] reply(JsonNode request) throws IOException;

        /** Whether to close the connection after the reply. */
        default boolean closeAfterReply() {
            return false;
        }
    }

    static final ObjectMapper JSON = new ObjectMapper();

    private final Path dir;
    private final Path socket;
    private final ServerSocketChannel server;
    private final Thread acceptor;
    private final List<SocketChannel> clients = new CopyOnWriteArrayList<>();
    final List<JsonNode> received = new CopyOnWriteArrayList<>();
    private volatile boolean closed;

    FakeOvsdbServer(Script script) throws IOException {
        dir = Files.createTempDirectory("weft-fake-ovsdb-");
        socket = dir.resolve("db.sock");
        server = ServerSocketChannel.open(StandardProtocolFamily.UNIX);
        server.bind(UnixDomainSocketAddress.of(socket));
        acceptor = Thread.ofPlatform().daemon().name("fake-ovsdb-accept").start(() -> acceptLoop(script));
    }

    Path socket() {
        return socket;
    }

    private void acceptLoop(Script script) {
        while (!closed) {
            try {
                SocketChannel c = server.accept();
                clients.add(c);
                Thread.ofPlatform().daemon().name("fake-ovsdb-conn").start(() -> serve(c, script));
            } catch (IOException e) {
                return;
            }
        }
    }

    private void serve(SocketChannel c, Script script) {
        try (c; InputStream in = Channels.newInputStream(c); OutputStream out = Channels.newOutputStream(c);
             JsonParser parser = new JsonFactory(JSON).createParser(in)) {
            out.write(script.onConnect());
            out.flush();
            while (parser.nextToken() != null) {
                JsonNode request = JSON.readTree(parser);
                received.add(request);
                byte[] reply = script.reply(request);
                if (reply != null) {
                    out.write(reply);
                    out.flush();
                }
                if (script.closeAfterReply()) {
                    return;
                }
            }
        } catch (IOException e) {
            // the client went away or sent what we cannot parse: this connection is over
        }
    }

    @Override
    public void close() {
        closed = true;
        try {
            server.close();
        } catch (IOException e) {
            // closing anyway
        }
        for (SocketChannel c : clients) {
            try {
                c.close();
            } catch (IOException e) {
                // closing anyway
            }
        }
        try {
            acceptor.join(5000);
            Files.deleteIfExists(socket);
            Files.deleteIfExists(dir);
        } catch (IOException | InterruptedException e) {
            // temp dir
        }
    }
}
