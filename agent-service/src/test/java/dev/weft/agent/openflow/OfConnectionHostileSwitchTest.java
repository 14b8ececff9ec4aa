package dev.weft.agent.openflow;

import org.junit.jupiter.api.Test;

import java.io.DataInputStream;
import java.io.IOException;
import java.io.OutputStream;
import java.net.InetAddress;
import java.net.ServerSocket;
import java.net.Socket;
import java.nio.ByteBuffer;
import java.util.Arrays;
import java.util.List;
import java.util.concurrent.BlockingQueue;
import java.util.concurrent.CompletionException;
import java.util.concurrent.LinkedBlockingQueue;
import java.util.concurrent.TimeUnit;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertInstanceOf;
import static org.junit.jupiter.api.Assertions.assertNotNull;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * {@link OfConnection} against a switch that sends malformed messages, over a real TCP connection on loopback: a
 * header whose length is below the 8-byte header, a flow-stats reply whose entry lies about its length, a multipart
 * reply too short to hold its header, a FEATURES reply too short for the datapath id. Each ends in an
 * {@link OfException} that names what was malformed (the pending request fails at once, not after its 120 s timeout;
 * the connection is dropped and reconnects), never a hang.
 */
class OfConnectionHostileSwitchTest {

    /** One accepted connection of the fake switch; {@link #frame()} reads one message the agent sent. */
    private record Peer(Socket socket, DataInputStream in, OutputStream out) implements AutoCloseable {
        byte[] frame() throws IOException {
            byte[] header = new byte[8];
            in.readFully(header);
            int len = (header[2] & 0xff) << 8 | (header[3] & 0xff);
            byte[] m = Arrays.copyOf(header, len);
            in.readFully(m, 8, len - 8);
            return m;
        }

        /** Reads messages until one of {@code type}. */
        byte[] await(int type) throws IOException {
            while (true) {
                byte[] m = frame();
                if ((m[1] & 0xff) == type) {
                    return m;
                }
            }
        }

        void send(byte[] m) throws IOException {
            out.write(m);
            out.flush();
        }

        public void close() throws IOException {
            socket.close();
        }
    }

    private static byte[] header(int type, int length, int xid, int size) {
        return ByteBuffer.allocate(size).put((byte) 4).put((byte) type).putShort((short) length).putInt(xid).array();
    }

    private static int xid(byte[] m) {
        return ByteBuffer.wrap(m).getInt(4);
    }

    /** Accepts the agent's connection and completes HELLO and FEATURES (with {@code featuresBytes} of reply). */
    private static Peer handshake(ServerSocket server, int featuresBytes) throws IOException {
        Socket s = server.accept();
        s.setSoTimeout(20_000);
        Peer p = new Peer(s, new DataInputStream(s.getInputStream()), s.getOutputStream());
        p.send(header(0, 8, 1, 8));
        byte[] request = p.await(5);
        byte[] features = header(6, featuresBytes, xid(request), featuresBytes);
        if (featuresBytes >= 16) {
            ByteBuffer.wrap(features).putLong(8, 0xabcdL);
        }
        p.send(features);
        return p;
    }

    private static final class Events implements OfConnection.Listener {
        final BlockingQueue<String> events = new LinkedBlockingQueue<>();

        public void connected(OfConnection connection, long datapathId) {
            events.add("connected " + Long.toHexString(datapathId));
        }

        public void disconnected(String why) {
            events.add("disconnected: " + why);
        }

        String next() throws InterruptedException {
            String e = events.poll(20, TimeUnit.SECONDS);
            assertNotNull(e, "no connection event within 20 s");
            return e;
        }
    }

    private static OfConnection connect(ServerSocket server, Events events) {
        return new OfConnection(new OfEndpoint(null, "127.0.0.1", server.getLocalPort()), events).start();
    }

    @Test
    void aHeaderShorterThanItselfDropsTheConnectionWithAClearError() throws Exception {
        try (ServerSocket server = new ServerSocket(0, 4, InetAddress.getLoopbackAddress())) {
            Events events = new Events();
            try (OfConnection c = connect(server, events)) {
                try (Peer p = handshake(server, 32)) {
                    assertEquals("connected abcd", events.next());
                    p.send(header(2, 5, 9, 8)); // an echo request whose length field says 5
                    assertEquals("disconnected: OpenFlow connection error: malformed OpenFlow header: length 5 is less"
                            + " than the 8-byte header (version 4, type 2)", events.next());
                }
                try (Peer again = handshake(server, 32)) {
                    assertEquals("connected abcd", events.next()); // reconnected
                    assertEquals(2, c.connects());
                }
            }
        }
    }

    @Test
    void aFlowStatsEntryThatLiesFailsTheDumpAtOnce() throws Exception {
        try (ServerSocket server = new ServerSocket(0, 4, InetAddress.getLoopbackAddress())) {
            Events events = new Events();
            try (OfConnection c = connect(server, events); Peer p = handshake(server, 32)) {
                assertEquals("connected abcd", events.next());
                var dump = c.dumpFlows(0xff, 0, 0);
                byte[] request = p.await(18);
                byte[] part = OpenFlowDecoderFuzzTest.flowStatsPart(
                        List.of(FlowEncodingTest.cases().values().iterator().next().encode()), false);
                ByteBuffer.wrap(part).putInt(4, xid(request)).putShort(16, (short) 0);
                long start = System.nanoTime();
                p.send(part);
                CompletionException e = assertThrows(CompletionException.class, dump::join);
                OfException cause = assertInstanceOf(OfException.class, e.getCause());
                assertEquals("malformed flow-stats entry at offset 16: length 0 (reply length " + part.length + ")",
                        cause.getMessage());
                System.out.printf("malformed flow-stats reply refused %d ms after it was sent%n",
                        (System.nanoTime() - start) / 1_000_000);
                assertTrue(c.isReady(), "a malformed body in a well-framed reply fails the request, not the connection");

                // a multipart reply too short for its own header: the connection goes, and the dump with it
                var second = c.dumpFlows(0xff, 0, 0);
                byte[] again = p.await(18);
                p.send(header(19, 12, xid(again), 12));
                CompletionException e2 = assertThrows(CompletionException.class, second::join);
                assertEquals("OpenFlow connection lost: OpenFlow connection error: malformed OpenFlow message: type 19 of"
                        + " 12 bytes, less than its 16", e2.getCause().getMessage());
            }
        }
    }

    @Test
    void aFeaturesReplyTooShortForTheDatapathIdIsRefused() throws Exception {
        try (ServerSocket server = new ServerSocket(0, 4, InetAddress.getLoopbackAddress())) {
            Events events = new Events();
            try (OfConnection c = connect(server, events); Peer p = handshake(server, 12)) {
                // the agent drops the connection: the fake switch sees end of stream
                assertThrows(IOException.class, () -> {
                    while (true) {
                        p.frame();
                    }
                });
                assertTrue(!c.isReady(), "never ready on a malformed FEATURES reply");
                assertEquals("OpenFlow connection error: malformed OpenFlow message: type 6 of 12 bytes, less than its 32",
                        c.lastError());
            }
        }
    }
}
