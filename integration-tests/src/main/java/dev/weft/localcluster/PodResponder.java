package dev.weft.localcluster;

import java.io.BufferedReader;
import java.io.IOException;
import java.io.InputStream;
import java.io.InputStreamReader;
import java.io.OutputStream;
import java.net.DatagramPacket;
import java.net.DatagramSocket;
import java.net.InetAddress;
import java.net.InetSocketAddress;
import java.net.ServerSocket;
import java.net.Socket;
import java.net.SocketTimeoutException;
import java.net.StandardProtocolFamily;
import java.net.UnixDomainSocketAddress;
import java.nio.channels.Channels;
import java.nio.channels.ServerSocketChannel;
import java.nio.channels.SocketChannel;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import java.util.concurrent.CountDownLatch;

/**
 * What runs "in" a pod of the local cluster: started inside the pod's network namespace ({@code ip netns exec}), it
 * serves every declared container port (TCP: a tiny HTTP responder answering with the pod's name; UDP: echo) and, on a
 * UNIX socket (filesystem, so reachable from the root namespace), executes probes FROM the pod:
 * {@code PROBE TCP|UDP <ip> <port> <timeout-ms>} answers {@code OK <reply>} or {@code FAIL <reason>}.
 * <p>Usage: {@code PodResponder --pod NS/NAME --tcp 80,81 --udp 80 --control /path/probe.sock}
 */
public final class PodResponder {
    private final String pod;

    private PodResponder(String pod) {
        this.pod = pod;
    }

    public static void main(String[] args) throws Exception {
        String pod = null;
        List<Integer> tcp = new ArrayList<>();
        List<Integer> udp = new ArrayList<>();
        Path control = null;
        for (int i = 0; i < args.length; i++) {
            switch (args[i]) {
                case "--pod" -> pod = args[++i];
                case "--tcp" -> tcp.addAll(ports(args[++i]));
                case "--udp" -> udp.addAll(ports(args[++i]));
                case "--control" -> control = Path.of(args[++i]);
                default -> throw new IllegalArgumentException("unknown argument " + args[i]);
            }
        }
        if (pod == null || control == null) {
            throw new IllegalArgumentException("usage: PodResponder --pod NS/NAME [--tcp P,..] [--udp P,..] --control SOCKET");
        }
        PodResponder responder = new PodResponder(pod);
        for (int port : tcp) {
            ServerSocket server = new ServerSocket();
            server.setReuseAddress(true);
            server.bind(new InetSocketAddress(port), 128);
            Thread.ofVirtual().start(() -> responder.serveTcp(server));
        }
        for (int port : udp) {
            DatagramSocket socket = new DatagramSocket(port);
            Thread.ofPlatform().daemon().start(() -> responder.serveUdp(socket));
        }
        Files.deleteIfExists(control);
        ServerSocketChannel controlServer = ServerSocketChannel.open(StandardProtocolFamily.UNIX);
        // Bind to a temporary name and rename: the socket's appearance means "listening on every port".
        Path tmp = control.resolveSibling(control.getFileName() + ".tmp");
        Files.deleteIfExists(tmp);
        controlServer.bind(UnixDomainSocketAddress.of(tmp));
        Files.move(tmp, control, java.nio.file.StandardCopyOption.ATOMIC_MOVE);
        System.out.println("pod " + pod + " serving tcp " + tcp + " udp " + udp + ", probes on " + control);
        Thread.ofVirtual().start(() -> responder.serveControl(controlServer));
        new CountDownLatch(1).await();
    }

    private static List<Integer> ports(String csv) {
        return Arrays.stream(csv.split(",")).filter(s -> !s.isBlank()).map(String::trim).map(Integer::parseInt).toList();
    }

    private void serveTcp(ServerSocket server) {
        while (true) {
            try {
                Socket s = server.accept();
                Thread.ofVirtual().start(() -> answerHttp(s));
            } catch (IOException e) {
                return;
            }
        }
    }

    private void answerHttp(Socket s) {
        try (s) {
            s.setSoTimeout(2000);
            InputStream in = s.getInputStream();
            // Read the request head if one comes; answer anyway when the client sends nothing.
            byte[] buf = new byte[4096];
            int total = 0;
            try {
                int n;
                while (total < buf.length && (n = in.read(buf, total, buf.length - total)) > 0) {
                    total += n;
                    if (new String(buf, 0, total, StandardCharsets.ISO_8859_1).contains("\r\n\r\n")) {
                        break;
                    }
                }
            } catch (SocketTimeoutException ignored) {
                // a raw TCP client: answer what we have
            }
            byte[] body = (pod + "\n").getBytes(StandardCharsets.UTF_8);
            String head = "HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\nContent-Length: " + body.length + "\r\nConnection: close\r\n\r\n";
            OutputStream out = s.getOutputStream();
            out.write(head.getBytes(StandardCharsets.ISO_8859_1));
            out.write(body);
            out.flush();
        } catch (IOException ignored) {
            // the client went away
        }
    }

    private void serveUdp(DatagramSocket socket) {
        byte[] buf = new byte[65535];
        while (true) {
            try {
                DatagramPacket p = new DatagramPacket(buf, buf.length);
                socket.receive(p);
                socket.send(new DatagramPacket(p.getData(), p.getLength(), p.getSocketAddress()));
            } catch (IOException e) {
                return;
            }
        }
    }

    private void serveControl(ServerSocketChannel server) {
        while (true) {
            try {
                SocketChannel ch = server.accept();
                Thread.ofVirtual().start(() -> answerControl(ch));
            } catch (IOException e) {
                return;
            }
        }
    }

    private void answerControl(SocketChannel ch) {
        try (ch; var reader = new BufferedReader(new InputStreamReader(Channels.newInputStream(ch), StandardCharsets.UTF_8));
             var writer = Channels.newOutputStream(ch)) {
            String line = reader.readLine();
            String answer = line == null ? "FAIL empty request" : probe(line.trim().split("\\s+"));
            writer.write((answer.replace('\n', ' ').strip() + "\n").getBytes(StandardCharsets.UTF_8));
            writer.flush();
        } catch (IOException ignored) {
            // the caller went away
        }
    }

    static String probe(String[] req) {
        if (req.length != 5 || !req[0].equals("PROBE")) {
            return "FAIL bad request, expected: PROBE TCP|UDP IP PORT TIMEOUT_MS";
        }
        try {
            InetAddress ip = InetAddress.getByName(req[2]);
            int port = Integer.parseInt(req[3]);
            int timeout = Integer.parseInt(req[4]);
            return switch (req[1]) {
                case "TCP" -> probeTcp(ip, port, timeout);
                case "UDP" -> probeUdp(ip, port, timeout);
                default -> "FAIL unknown protocol " + req[1];
            };
        } catch (IOException | NumberFormatException e) {
            return "FAIL " + e;
        }
    }

    private static String probeTcp(InetAddress ip, int port, int timeout) {
        long deadline = System.currentTimeMillis() + timeout;
        try (Socket s = new Socket()) {
            s.connect(new InetSocketAddress(ip, port), timeout);
            s.setSoTimeout((int) Math.max(1, deadline - System.currentTimeMillis()));
            s.getOutputStream().write(("GET / HTTP/1.0\r\nHost: " + ip.getHostAddress() + "\r\n\r\n").getBytes(StandardCharsets.ISO_8859_1));
            String response = new String(s.getInputStream().readAllBytes(), StandardCharsets.UTF_8);
            if (!response.startsWith("HTTP/1.1 200")) {
                return "FAIL unexpected response: " + response.lines().findFirst().orElse("(empty)");
            }
            int body = response.indexOf("\r\n\r\n");
            return "OK " + (body < 0 ? "" : response.substring(body + 4).strip());
        } catch (IOException e) {
            return "FAIL " + e.getClass().getSimpleName() + ": " + e.getMessage();
        }
    }

    private static String probeUdp(InetAddress ip, int port, int timeout) {
        String nonce = "weft-probe-" + System.nanoTime();
        try (DatagramSocket s = new DatagramSocket()) {
            s.setSoTimeout(timeout);
            byte[] payload = nonce.getBytes(StandardCharsets.UTF_8);
            s.send(new DatagramPacket(payload, payload.length, ip, port));
            byte[] buf = new byte[2048];
            DatagramPacket reply = new DatagramPacket(buf, buf.length);
            s.receive(reply);
            String echoed = new String(reply.getData(), 0, reply.getLength(), StandardCharsets.UTF_8);
            return echoed.equals(nonce) ? "OK echo" : "FAIL unexpected reply " + echoed;
        } catch (IOException e) {
            return "FAIL " + e.getClass().getSimpleName() + ": " + e.getMessage();
        }
    }

    /** Asks the responder of a pod (through its control socket) to probe a destination. */
    static ProbeResult probeVia(Path control, String protocol, String ip, int port, int timeoutMs) {
        try (SocketChannel ch = SocketChannel.open(UnixDomainSocketAddress.of(control))) {
            ch.write(java.nio.ByteBuffer.wrap(("PROBE " + protocol + " " + ip + " " + port + " " + timeoutMs + "\n").getBytes(StandardCharsets.UTF_8)));
            String line = new BufferedReader(new InputStreamReader(Channels.newInputStream(ch), StandardCharsets.UTF_8)).readLine();
            if (line == null) {
                return new ProbeResult(false, "no answer from the pod's responder");
            }
            return new ProbeResult(line.startsWith("OK"), line.length() > 3 ? line.substring(line.indexOf(' ') + 1) : "");
        } catch (IOException e) {
            return new ProbeResult(false, "responder unreachable at " + control + ": " + e.getMessage());
        }
    }

    record ProbeResult(boolean ok, String detail) {
    }
}
