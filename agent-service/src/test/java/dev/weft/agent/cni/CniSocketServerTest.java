package dev.weft.agent.cni;

import dev.weft.proto.cni.v1.CniCall;
import dev.weft.proto.cni.v1.CniReply;
import dev.weft.proto.cni.v1.ErrorCode;
import org.junit.jupiter.api.Test;

import java.io.OutputStream;
import java.net.StandardProtocolFamily;
import java.net.UnixDomainSocketAddress;
import java.nio.channels.Channels;
import java.nio.channels.SocketChannel;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.attribute.PosixFilePermissions;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

/** The CNI socket's framing on a real UNIX socket: bad calls get a CNI decoding error, never silence. */
class CniSocketServerTest {

    @Test
    void badCallsAreAnsweredWithDecodingErrors() throws Exception {
        Path dir = Files.createTempDirectory("weft-cni-sock-");
        Path socket = dir.resolve("cni.sock");
        // No pod service: none of these calls may reach it.
        try (CniSocketServer server = CniSocketServer.start(socket, new CniService(null, null, (c, r, n) -> { }))) {
            assertEquals("rw-------", PosixFilePermissions.toString(Files.getPosixFilePermissions(socket)));

            CniReply empty = new CniClient(socket).call(CniCall.getDefaultInstance());
            assertEquals(ErrorCode.DECODING_FAILURE, empty.getResponse().getError().getCode());
            assertTrue(empty.getResponse().getError().getMsg().contains("names no command"), empty.toString());

            // A length prefix over the limit (varint of 2^30), then garbage.
            CniReply huge = raw(socket, new byte[] {(byte) 0x80, (byte) 0x80, (byte) 0x80, (byte) 0x80, 0x04, 1, 2, 3});
            assertEquals(ErrorCode.DECODING_FAILURE, huge.getResponse().getError().getCode());
            assertTrue(huge.getResponse().getError().getMsg().contains("limit"), huge.toString());

            // A frame whose body is not a CniCall (field 1 as a varint, where a message is expected).
            CniReply garbage = raw(socket, new byte[] {3, 0x08, (byte) 0x96, 0x01});
            assertEquals(ErrorCode.DECODING_FAILURE, garbage.getResponse().getError().getCode());

            // Truncated: announces 100 bytes, sends 2 and closes its side.
            CniReply truncated = raw(socket, new byte[] {100, 1, 2});
            assertEquals(ErrorCode.DECODING_FAILURE, truncated.getResponse().getError().getCode());
            assertTrue(truncated.getResponse().getError().getMsg().contains("truncated"), truncated.toString());
        } finally {
            Files.deleteIfExists(socket);
            Files.deleteIfExists(dir);
        }
    }

    private static CniReply raw(Path socket, byte[] bytes) throws Exception {
        try (SocketChannel ch = SocketChannel.open(StandardProtocolFamily.UNIX)) {
            ch.connect(UnixDomainSocketAddress.of(socket));
            OutputStream out = Channels.newOutputStream(ch);
            out.write(bytes);
            out.flush();
            ch.shutdownOutput();
            return CniReply.parseDelimitedFrom(Channels.newInputStream(ch));
        }
    }
}
