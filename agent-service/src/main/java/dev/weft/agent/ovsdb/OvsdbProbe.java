package dev.weft.agent.ovsdb;

import java.io.IOException;
import java.net.StandardProtocolFamily;
import java.net.UnixDomainSocketAddress;
import java.nio.ByteBuffer;
import java.nio.channels.SocketChannel;
import java.nio.charset.StandardCharsets;
import java.nio.file.Path;
import java.time.Duration;

/**
 * One RFC 7047 {@code list_dbs} round trip on the OVSDB unix socket: the cheapest proof that ovsdb-server is up and
 * answering (a socket file alone survives a crashed server).
 */
public final class OvsdbProbe {

    private static final int MAX_REPLY_CHARS = 64 * 1024;

    private OvsdbProbe() {
    }

    /** @return null when the server answered with the Open_vSwitch database, otherwise why not. */
    public static String check(Path socket, Duration timeout) {
        if (!socket.toFile().exists()) {
            return "no OVSDB socket at " + socket;
        }
        try (SocketChannel ch = SocketChannel.open(StandardProtocolFamily.UNIX)) {
            ch.connect(UnixDomainSocketAddress.of(socket));
            ch.write(ByteBuffer.wrap("{\"method\":\"list_dbs\",\"params\":[],\"id\":\"probe\"}".getBytes(StandardCharsets.UTF_8)));
            ch.configureBlocking(false);
            ByteBuffer buf = ByteBuffer.allocate(4096);
            long deadline = System.nanoTime() + timeout.toNanos();
            StringBuilder reply = new StringBuilder();
            while (System.nanoTime() < deadline) {
                int n = ch.read(buf);
                if (n < 0) {
                    return "OVSDB closed the connection";
                }
                if (n > 0) {
                    buf.flip();
                    reply.append(StandardCharsets.UTF_8.decode(buf));
                    buf.clear();
                    if (reply.length() > MAX_REPLY_CHARS) {
                        // list_dbs is a few dozen bytes: a peer streaming more is not answering the probe
                        return "OVSDB sent " + reply.length() + " characters without answering list_dbs";
                    }
                    if (reply.indexOf("\"id\":\"probe\"") >= 0) {
                        return reply.indexOf("Open_vSwitch") >= 0 ? null : "OVSDB has no Open_vSwitch database: " + reply;
                    }
                } else {
                    Thread.sleep(2);
                }
            }
            return "OVSDB did not answer within " + timeout.toMillis() + " ms";
        } catch (IOException e) {
            return "cannot reach OVSDB at " + socket + ": " + e.getMessage();
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
            return "interrupted";
        }
    }
}
