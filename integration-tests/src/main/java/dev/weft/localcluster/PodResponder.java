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
 * What runs "in" a pod of the local cluster (and on its hosts: each node's host network and the outside host): started
 * inside the network namespace ({@code ip netns exec}), it serves every declared port and, on a UNIX socket
 * (filesystem, so reachable from the root namespace), executes probes FROM that namespace.
 * <ul>
 *   <li>TCP: a tiny HTTP responder answering {@code <name> source=<ip>:<port>}, the address the connection came from
 *       as this namespace saw it (after any NAT on the way: that is how SNAT is observed). A request head of
 *       {@code STREAM} instead turns the connection into a line echo (first line {@code <name> source=...}), the far
 *       end of a long-lived connection.</li>
 *   <li>UDP: replies {@code <payload> <name> source=<ip>:<port>}.</li>
 *   <li>Control: {@code PROBE TCP|UDP <ip> <port> <timeout-ms>} answers {@code OK <reply>} or {@code FAIL <reason>};
 *       {@code STREAM <ip> <port> <interval-ms>} opens one TCP connection in STREAM mode and sends a numbered line
 *       every interval, each checked when it comes back, until the caller sends {@code STOP} on the same control
 *       connection (or closes it), then answers {@code OK messages=N bytes=B ...} or {@code FAIL ...} with what broke.</li>
 * </ul>
 * <p>Usage: {@code PodResponder --pod NAME --tcp 80,81 --udp 80 --control /path/probe.sock}
 */
public final class PodResponder {
    private final String pod;
    /** With a title, a request that does not ask for text/plain (a browser, wget, curl) gets an HTML page with it. */
    private final String htmlTitle;

    private PodResponder(String pod, String htmlTitle) {
        this.pod = pod;
        this.htmlTitle = htmlTitle;
    }

    public static void main(String[] args) throws Exception {
        String pod = null;
        String htmlTitle = null;
        List<Integer> tcp = new ArrayList<>();
        List<Integer> udp = new ArrayList<>();
        Path control = null;
        for (int i = 0; i < args.length; i++) {
            switch (args[i]) {
                case "--pod" -> pod = args[++i];
                case "--html-title" -> htmlTitle = args[++i];
                case "--tcp" -> tcp.addAll(ports(args[++i]));
                case "--udp" -> udp.addAll(ports(args[++i]));
                case "--control" -> control = Path.of(args[++i]);
                default -> throw new IllegalArgumentException("unknown argument " + args[i]);
            }
        }
        if (pod == null || control == null) {
            throw new IllegalArgumentException("usage: PodResponder --pod NS/NAME [--tcp P,..] [--udp P,..] --control SOCKET");
        }
        PodResponder responder = new PodResponder(pod, htmlTitle);
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
            String seen = pod + " " + source(s.getInetAddress(), s.getPort());
            OutputStream out = s.getOutputStream();
            if (new String(buf, 0, total, StandardCharsets.ISO_8859_1).startsWith(STREAM_HEAD)) {
                echoStream(s, seen);
                return;
            }
            String request = new String(buf, 0, total, StandardCharsets.ISO_8859_1);
            boolean html = htmlTitle != null && !request.toLowerCase(java.util.Locale.ROOT).contains("\naccept: " + PLAIN);
            byte[] body = (html ? html(htmlTitle, seen) : seen + "\n").getBytes(StandardCharsets.UTF_8);
            String head = "HTTP/1.1 200 OK\r\nContent-Type: " + (html ? "text/html" : PLAIN) + "\r\nContent-Length: " + body.length
                    + "\r\nConnection: close\r\n\r\n";
            out.write(head.getBytes(StandardCharsets.ISO_8859_1));
            out.write(body);
            out.flush();
        } catch (IOException ignored) {
            // the client went away
        }
    }

    static final String PLAIN = "text/plain";

    /** An nginx-like welcome page (what the walkthrough greps the title of) that also says who answered whom. */
    static String html(String title, String seen) {
        return "<!DOCTYPE html>\n<html>\n<head>\n<title>" + title + "</title>\n</head>\n<body>\n<h1>" + title + "</h1>\n<p>"
                + seen + "</p>\n</body>\n</html>\n";
    }

    /** The far end of a STREAM: who we see, then every line back as it comes, until the client closes. */
    private static void echoStream(Socket s, String seen) throws IOException {
        s.setSoTimeout(0);
        OutputStream out = s.getOutputStream();
        out.write((seen + "\n").getBytes(StandardCharsets.UTF_8));
        out.flush();
        BufferedReader lines = new BufferedReader(new InputStreamReader(s.getInputStream(), StandardCharsets.UTF_8));
        String line;
        while ((line = lines.readLine()) != null) {
            out.write((line + "\n").getBytes(StandardCharsets.UTF_8));
            out.flush();
        }
    }

    /** How a responder names the peer it saw: {@code source=IP:PORT} (parsed back by {@link #sourceOf}). */
    static String source(InetAddress ip, int port) {
        return "source=" + ip.getHostAddress() + ":" + port;
    }

    /** The source address a responder reported in a reply, if it reported one. */
    static java.util.Optional<String> sourceOf(String reply) {
        var m = java.util.regex.Pattern.compile("source=([0-9.]+):\\d+").matcher(reply);
        return m.find() ? java.util.Optional.of(m.group(1)) : java.util.Optional.empty();
    }

    private void serveUdp(DatagramSocket socket) {
        byte[] buf = new byte[65535];
        while (true) {
            try {
                DatagramPacket p = new DatagramPacket(buf, buf.length);
                socket.receive(p);
                String payload = new String(p.getData(), 0, p.getLength(), StandardCharsets.UTF_8);
                byte[] reply = (payload + " " + pod + " " + source(p.getAddress(), p.getPort())).getBytes(StandardCharsets.UTF_8);
                socket.send(new DatagramPacket(reply, reply.length, p.getSocketAddress()));
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
            String[] req = line == null ? new String[0] : line.trim().split("\\s+");
            String answer = line == null ? "FAIL empty request"
                    : req[0].equals("STREAM") ? stream(req, reader) : probe(req);
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
            s.getOutputStream().write(("GET / HTTP/1.0\r\nHost: " + ip.getHostAddress() + "\r\nAccept: " + PLAIN + "\r\n\r\n").getBytes(StandardCharsets.ISO_8859_1));
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
            return echoed.startsWith(nonce + " ") ? "OK " + echoed.substring(nonce.length() + 1)
                    : "FAIL unexpected reply " + echoed;
        } catch (IOException e) {
            return "FAIL " + e.getClass().getSimpleName() + ": " + e.getMessage();
        }
    }

    static final String STREAM_HEAD = "STREAM\r\n\r\n";
    /** A message not back within this is a broken stream (the connection may still be open, but it carries nothing). */
    static final int STREAM_ECHO_TIMEOUT_MS = 15_000;

    /**
     * {@code STREAM IP PORT INTERVAL_MS}: one TCP connection, a numbered line every interval, each echoed back in
     * order, until {@code STOP} (or EOF) arrives on the control connection. Any error, timeout or wrong echo breaks it.
     */
    static String stream(String[] req, BufferedReader control) {
        if (req.length != 4) {
            return "FAIL bad request, expected: STREAM IP PORT INTERVAL_MS";
        }
        InetAddress ip;
        int port;
        int interval;
        try {
            ip = InetAddress.getByName(req[1]);
            port = Integer.parseInt(req[2]);
            interval = Integer.parseInt(req[3]);
        } catch (IOException | NumberFormatException e) {
            return "FAIL " + e;
        }
        var stop = new java.util.concurrent.atomic.AtomicBoolean();
        Thread.ofVirtual().start(() -> {
            try {
                String l;
                while ((l = control.readLine()) != null && !l.trim().equals("STOP")) {
                    // only STOP means anything
                }
            } catch (IOException ignored) {
                // the caller went away: stop as well
            }
            stop.set(true);
        });
        long started = System.nanoTime();
        long messages = 0;
        long bytes = 0;
        long maxRoundTripMs = 0;
        String seen = "";
        try (Socket s = new Socket()) {
            s.connect(new InetSocketAddress(ip, port), 5000);
            s.setSoTimeout(STREAM_ECHO_TIMEOUT_MS);
            s.setTcpNoDelay(true);
            OutputStream out = s.getOutputStream();
            BufferedReader in = new BufferedReader(new InputStreamReader(s.getInputStream(), StandardCharsets.UTF_8));
            out.write(STREAM_HEAD.getBytes(StandardCharsets.ISO_8859_1));
            out.flush();
            seen = in.readLine();
            if (seen == null) {
                return "FAIL the far end closed before greeting";
            }
            while (!stop.get()) {
                String msg = "weft-stream " + (messages + 1) + " " + "x".repeat(64);
                long t0 = System.nanoTime();
                out.write((msg + "\n").getBytes(StandardCharsets.UTF_8));
                out.flush();
                String back = in.readLine();
                if (!msg.equals(back)) {
                    return "FAIL after messages=" + messages + " bytes=" + bytes + " ms=" + ms(started)
                            + ": " + (back == null ? "the far end closed the connection" : "wrong echo " + back);
                }
                messages++;
                bytes += msg.length() + 1;
                maxRoundTripMs = Math.max(maxRoundTripMs, (System.nanoTime() - t0) / 1_000_000);
                Thread.sleep(interval);
            }
            return "OK messages=" + messages + " bytes=" + bytes + " ms=" + ms(started) + " maxRoundTripMs=" + maxRoundTripMs
                    + " " + seen;
        } catch (IOException e) {
            return "FAIL after messages=" + messages + " bytes=" + bytes + " ms=" + ms(started) + ": "
                    + e.getClass().getSimpleName() + ": " + e.getMessage() + (seen.isEmpty() ? "" : " " + seen);
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
            return "FAIL interrupted";
        }
    }

    private static long ms(long startedNanos) {
        return (System.nanoTime() - startedNanos) / 1_000_000;
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
        /** The source address the destination reported seeing, if it did. */
        java.util.Optional<String> sourceSeen() {
            return ok ? sourceOf(detail) : java.util.Optional.empty();
        }
    }

    /** Starts a STREAM from the responder behind {@code control}; {@link Stream#stop} ends it and returns its outcome. */
    static Stream openStream(Path control, String ip, int port, int intervalMs) throws IOException {
        SocketChannel ch = SocketChannel.open(UnixDomainSocketAddress.of(control));
        ch.write(java.nio.ByteBuffer.wrap(("STREAM " + ip + " " + port + " " + intervalMs + "\n").getBytes(StandardCharsets.UTF_8)));
        return new Stream(ch);
    }

    /** A running STREAM (see the class comment); its outcome comes when it is stopped or when it breaks. */
    static final class Stream implements AutoCloseable {
        private final SocketChannel control;

        private Stream(SocketChannel control) {
            this.control = control;
        }

        ProbeResult stop() {
            try {
                control.write(java.nio.ByteBuffer.wrap("STOP\n".getBytes(StandardCharsets.UTF_8)));
                String line = new BufferedReader(new InputStreamReader(Channels.newInputStream(control), StandardCharsets.UTF_8)).readLine();
                if (line == null) {
                    return new ProbeResult(false, "no answer from the responder");
                }
                return new ProbeResult(line.startsWith("OK"), line.length() > 3 ? line.substring(line.indexOf(' ') + 1) : "");
            } catch (IOException e) {
                return new ProbeResult(false, "responder unreachable: " + e.getMessage());
            } finally {
                close();
            }
        }

        @Override
        public void close() {
            try {
                control.close();
            } catch (IOException ignored) {
                // already closed
            }
        }
    }

    /**
     * The command that starts a responder named {@code name} in {@code netns} (small heap: dozens run at once), for the
     * kubelet's pods and for the cluster's hosts alike.
     */
    static List<String> command(Layout layout, String netns, String name, Path control, List<Integer> tcp, List<Integer> udp) {
        return command(layout, netns, name, control, tcp, udp, null);
    }

    /** With {@code htmlTitle} (or null): see {@link #htmlTitle}. */
    static List<String> command(Layout layout, String netns, String name, Path control, List<Integer> tcp, List<Integer> udp,
                                String htmlTitle) {
        List<String> command = new ArrayList<>(List.of("ip", "netns", "exec", netns, "setsid", layout.javaBin().toString(),
                "-XX:+UseSerialGC", "-XX:TieredStopAtLevel=1", "-Xmx24m", "-Xss256k", "-XX:MaxMetaspaceSize=48m",
                "-Djava.net.preferIPv4Stack=true", "-cp", layout.repo().resolve("integration-tests/target/classes").toString(),
                PodResponder.class.getName(), "--pod", name, "--control", control.toString()));
        if (!tcp.isEmpty()) {
            command.addAll(List.of("--tcp", String.join(",", tcp.stream().map(String::valueOf).toList())));
        }
        if (!udp.isEmpty()) {
            command.addAll(List.of("--udp", String.join(",", udp.stream().map(String::valueOf).toList())));
        }
        if (htmlTitle != null) {
            command.addAll(List.of("--html-title", htmlTitle));
        }
        return command;
    }
}
