package dev.weft.agent.pipeline;

import dev.weft.agent.node.PodInterface;
import dev.weft.agent.testing.OvsSandbox;

import java.io.IOException;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.ThreadLocalRandom;
import java.util.concurrent.TimeUnit;

/**
 * A pod for datapath tests: a network namespace with eth0 (one end of a veth pair) whose host end is a port of the
 * sandbox bridge. Names carry a random suffix; {@link #close()} removes the namespace and the port.
 */
public final class NetnsPod implements AutoCloseable {

    public final String netns;
    public final String hostIf;
    public final String ip;
    public final String mac;
    public final int ofport;
    private final OvsSandbox ovs;

    private NetnsPod(OvsSandbox ovs, String netns, String hostIf, String ip, String mac, int ofport) {
        this.ovs = ovs;
        this.netns = netns;
        this.hostIf = hostIf;
        this.ip = ip;
        this.mac = mac;
        this.ofport = ofport;
    }

    /** @param cidrIp address with prefix, e.g. 10.251.7.2/24 */
    public static NetnsPod create(OvsSandbox ovs, String cidrIp, String gatewayIp, int ofport) throws IOException {
        String suffix = Long.toString(ThreadLocalRandom.current().nextLong(36L * 36 * 36 * 36 * 36 * 36), 36);
        String ns = "wdp-" + suffix;
        String host = "wv" + suffix;
        String tmp = "wt" + suffix;
        String ip = cidrIp.substring(0, cidrIp.indexOf('/'));
        byte[] b = new byte[5];
        ThreadLocalRandom.current().nextBytes(b);
        String mac = String.format("0a:%02x:%02x:%02x:%02x:%02x", b[0], b[1], b[2], b[3], b[4]);
        NetnsPod pod = new NetnsPod(ovs, ns, host, ip, mac, ofport);
        try {
            sh("ip", "netns", "add", ns);
            sh("ip", "link", "add", host, "type", "veth", "peer", "name", tmp);
            sh("ip", "link", "set", tmp, "netns", ns);
            sh("ip", "-n", ns, "link", "set", tmp, "name", "eth0");
            sh("ip", "-n", ns, "link", "set", "eth0", "address", mac);
            sh("ip", "-n", ns, "addr", "add", cidrIp, "dev", "eth0");
            sh("ip", "-n", ns, "link", "set", "eth0", "up");
            sh("ip", "-n", ns, "link", "set", "lo", "up");
            if (gatewayIp != null) {
                sh("ip", "-n", ns, "route", "add", "default", "via", gatewayIp);
            }
            // TCP/UDP through the userspace datapath need checksums computed by the sender
            sh("ip", "netns", "exec", ns, "ethtool", "-K", "eth0", "tx", "off");
            sh("ip", "link", "set", host, "up");
            ovs.vsctl("add-port", ovs.bridge, host, "--", "set", "interface", host, "ofport_request=" + ofport);
            return pod;
        } catch (IOException | RuntimeException e) {
            pod.close();
            throw e;
        }
    }

    public PodInterface asInterface(String namespace, String name) {
        return new PodInterface(namespace, name, "cid-" + name, "eth0", "/var/run/netns/" + netns, List.of(ip), mac,
                hostIf, "", ofport);
    }

    /** One ping (1 s timeout). */
    public boolean ping(String dst) {
        return run(List.of("ip", "netns", "exec", netns, "ping", "-c", "1", "-W", "1", dst)) == 0;
    }

    /** Starts a TCP or UDP echo server in this pod; returns its process (kill it by PID via {@link Process#destroy()}). */
    public Process serve(String proto, int port) throws IOException {
        String code = proto.equals("udp")
                ? "import socket\ns=socket.socket(socket.AF_INET,socket.SOCK_DGRAM)\ns.bind(('0.0.0.0'," + port + "))\n"
                + "while True:\n d,a=s.recvfrom(2048)\n s.sendto(d,a)\n"
                : "import socket,threading\ns=socket.socket()\ns.setsockopt(socket.SOL_SOCKET,socket.SO_REUSEADDR,1)\n"
                + "s.bind(('0.0.0.0'," + port + "))\ns.listen(16)\n"
                + "def h(c):\n while True:\n  d=c.recv(2048)\n  if not d: break\n  c.sendall(d)\n c.close()\n"
                + "while True:\n c,a=s.accept()\n threading.Thread(target=h,args=(c,),daemon=True).start()\n";
        Process p = new ProcessBuilder("ip", "netns", "exec", netns, python(), "-c", code).redirectErrorStream(true).start();
        try {
            Thread.sleep(300);
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
        }
        return p;
    }

    /** One request/echo over TCP or UDP to dst:port within 2 s. */
    public boolean talk(String proto, String dst, int port) {
        String code = proto.equals("udp")
                ? "import socket,sys\ns=socket.socket(socket.AF_INET,socket.SOCK_DGRAM)\ns.settimeout(2)\n"
                + "s.sendto(b'hi',('" + dst + "'," + port + "))\nsys.exit(0 if s.recv(100)==b'hi' else 1)\n"
                : "import socket,sys\ns=socket.create_connection(('" + dst + "'," + port + "),timeout=2)\n"
                + "s.sendall(b'hi')\nsys.exit(0 if s.recv(100)==b'hi' else 1)\n";
        return run(List.of("ip", "netns", "exec", netns, python(), "-c", code)) == 0;
    }

    /**
     * A TCP connection from this pod that sends a message every 50 ms for {@code seconds} and checks each echo: exits 0
     * only if the connection never broke nor stalled for 2 s (an established connection survived whatever happened).
     */
    public Process stream(String dst, int port, int seconds) throws IOException {
        String code = "import socket,sys,time\ns=socket.create_connection(('" + dst + "'," + port + "),timeout=2)\n"
                + "end=time.time()+" + seconds + "\nn=0\n"
                + "while time.time()<end:\n s.sendall(b'0123456789')\n d=b''\n"
                + " while len(d)<10:\n  c=s.recv(10-len(d))\n  if not c: sys.exit(2)\n  d+=c\n"
                + " n+=1\n time.sleep(0.05)\nprint(n)\n";
        return new ProcessBuilder("ip", "netns", "exec", netns, python(), "-c", code).redirectErrorStream(true).start();
    }

    public static String python() {
        return java.nio.file.Files.isExecutable(java.nio.file.Path.of("/usr/bin/python3")) ? "/usr/bin/python3" : "python3";
    }

    private static int run(List<String> cmd) {
        try {
            Process p = new ProcessBuilder(cmd).redirectErrorStream(true).start();
            if (!p.waitFor(10, TimeUnit.SECONDS)) {
                p.destroyForcibly();
                return -1;
            }
            p.getInputStream().readAllBytes();
            return p.exitValue();
        } catch (IOException e) {
            return -1;
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
            return -1;
        }
    }

    static void sh(String... cmd) throws IOException {
        Process p = new ProcessBuilder(cmd).redirectErrorStream(true).start();
        try {
            if (!p.waitFor(20, TimeUnit.SECONDS)) {
                p.destroyForcibly();
                throw new IOException("timed out: " + String.join(" ", cmd));
            }
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
            throw new IOException("interrupted", e);
        }
        String out = new String(p.getInputStream().readAllBytes());
        if (p.exitValue() != 0) {
            throw new IOException(String.join(" ", cmd) + ": " + out);
        }
    }

    @Override
    public void close() {
        List<List<String>> steps = new ArrayList<>();
        try {
            ovs.vsctl("--if-exists", "del-port", ovs.bridge, hostIf);
        } catch (IOException e) {
            // the sandbox may be gone
        }
        steps.add(List.of("ip", "link", "del", hostIf));
        steps.add(List.of("ip", "netns", "del", netns));
        for (List<String> s : steps) {
            run(s);
        }
    }
}
