package dev.weft.agent.openflow;

import dev.weft.agent.testing.OvsSandbox;

import java.io.DataInputStream;
import java.io.IOException;
import java.io.OutputStream;
import java.net.InetAddress;
import java.net.ServerSocket;
import java.net.Socket;
import java.nio.ByteBuffer;
import java.nio.charset.StandardCharsets;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.TimeUnit;

/**
 * Plays the switch for one {@code ovs-ofctl add-flow} run and records the flow_mod bytes it sends: the reference
 * encoding our own encoder must reproduce byte-for-byte.
 */
final class OfctlCapture {

    private OfctlCapture() {
    }

    /** The flow_mod messages ovs-ofctl sends for these flows (xid zeroed). */
    static List<byte[]> flowMods(String... flows) throws Exception {
        OvsSandbox.requireOvs();
        try (ServerSocket server = new ServerSocket(0, 1, InetAddress.getLoopbackAddress())) {
            server.setSoTimeout(10_000);
            List<String> cmd = new ArrayList<>(List.of("ovs-ofctl", "--no-names", "-O", "OpenFlow13", "add-flow",
                    "tcp:127.0.0.1:" + server.getLocalPort()));
            List<byte[]> captured = new ArrayList<>();
            for (String flow : flows) {
                List<String> c = new ArrayList<>(cmd);
                c.add(flow);
                Process p = new ProcessBuilder(c).redirectErrorStream(true).start();
                try (Socket s = server.accept()) {
                    s.setSoTimeout(10_000);
                    DataInputStream in = new DataInputStream(s.getInputStream());
                    OutputStream out = s.getOutputStream();
                    out.write(new byte[]{4, 0, 0, 8, 0, 0, 0, 1});
                    while (true) {
                        byte[] head = new byte[8];
                        in.readFully(head);
                        int len = ((head[2] & 0xff) << 8) | (head[3] & 0xff);
                        byte[] msg = new byte[len];
                        System.arraycopy(head, 0, msg, 0, 8);
                        in.readFully(msg, 8, len - 8);
                        if (msg[1] == 14) {
                            ByteBuffer.wrap(msg).putInt(4, 0);
                            captured.add(msg);
                        } else if (msg[1] == 20) {
                            byte[] reply = msg.clone();
                            reply[1] = 21;
                            out.write(reply);
                            out.flush();
                            break;
                        }
                    }
                }
                if (!p.waitFor(10, TimeUnit.SECONDS) || p.exitValue() != 0) {
                    throw new IOException("ovs-ofctl failed for " + flow + ": "
                            + new String(p.getInputStream().readAllBytes(), StandardCharsets.UTF_8));
                }
            }
            return captured;
        }
    }

    /** What ovs-ofctl ofp-print makes of a message. */
    static String ofpPrint(byte[] msg) throws Exception {
        Process p = new ProcessBuilder("ovs-ofctl", "ofp-print", java.util.HexFormat.of().formatHex(msg))
                .redirectErrorStream(true).start();
        String out = new String(p.getInputStream().readAllBytes(), StandardCharsets.UTF_8);
        p.waitFor(10, TimeUnit.SECONDS);
        return out.trim();
    }
}
