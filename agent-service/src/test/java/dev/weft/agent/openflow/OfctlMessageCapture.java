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
 * Plays the switch for one {@code ovs-ofctl <command> <switch> <argument>} run (add-group, del-groups, add-flow, ...)
 * and records the messages of one type it sends, xid zeroed: the reference encoding ours must reproduce.
 */
final class OfctlMessageCapture {

    private OfctlMessageCapture() {
    }

    static byte[] capture(int messageType, String command, String argument) throws Exception {
        OvsSandbox.requireOvs();
        try (ServerSocket server = new ServerSocket(0, 1, InetAddress.getLoopbackAddress())) {
            server.setSoTimeout(10_000);
            List<String> cmd = new ArrayList<>(List.of("ovs-ofctl", "--no-names", "-O", "OpenFlow13"));
            cmd.addAll(List.of(command.split(" ")));
            cmd.add("tcp:127.0.0.1:" + server.getLocalPort());
            if (argument != null) {
                cmd.add(argument);
            }
            Process p = new ProcessBuilder(cmd).redirectErrorStream(true).start();
            byte[] captured = null;
            Socket accepted;
            try {
                accepted = server.accept();
            } catch (java.net.SocketTimeoutException e) {
                p.destroy();
                throw new IOException("ovs-ofctl " + command + " never connected: "
                        + new String(p.getInputStream().readAllBytes(), StandardCharsets.UTF_8), e);
            }
            try (Socket s = accepted) {
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
                    if (msg[1] == messageType && captured == null) {
                        ByteBuffer.wrap(msg).putInt(4, 0);
                        captured = msg;
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
                throw new IOException("ovs-ofctl " + command + " failed for " + argument + ": "
                        + new String(p.getInputStream().readAllBytes(), StandardCharsets.UTF_8));
            }
            if (captured == null) {
                throw new IOException("ovs-ofctl " + command + " sent no message of type " + messageType);
            }
            return captured;
        }
    }
}
