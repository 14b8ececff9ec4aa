package dev.weft.agent.testing;

import org.junit.jupiter.api.Assertions;
import org.junit.jupiter.api.Assumptions;

import java.io.IOException;
import java.net.ServerSocket;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.concurrent.ThreadLocalRandom;
import java.util.concurrent.TimeUnit;

/**
 * A private Open vSwitch for one test: its own ovsdb-server and ovs-vswitchd (userspace datapath) in a temporary
 * directory, and one netdev bridge with a unique name (the bridge's TAP device lives in the host namespace, so two
 * sandboxes must never share a name). Processes are stopped by the PIDs we started, never by name.
 *
 * <p>Requires root and Open vSwitch. Outside CI the test is skipped when they are missing; with {@code CI=true} it fails.
 */
public final class OvsSandbox implements AutoCloseable {

    public final Path dir;
    public final String bridge;
    public final int openflowPort;
    /** The network namespace the daemons (and so the bridge and its ports) live in; null for the caller's own. */
    public final String netns;
    private final Map<String, String> env;

    private OvsSandbox(Path dir, String bridge, int openflowPort) {
        this(dir, bridge, openflowPort, null);
    }

    private OvsSandbox(Path dir, String bridge, int openflowPort, String netns) {
        this.dir = dir;
        this.bridge = bridge;
        this.openflowPort = openflowPort;
        this.netns = netns;
        this.env = Map.of("OVS_RUNDIR", dir.toString(), "OVS_DBDIR", dir.toString(), "OVS_LOGDIR", dir.toString());
    }

    /** Fails under CI, skips elsewhere, when the machine cannot run Open vSwitch. */
    public static void requireOvs() {
        String why = null;
        if (!"root".equals(System.getProperty("user.name"))) {
            why = "tests with Open vSwitch and network namespaces need root";
        } else if (!Files.isExecutable(Path.of("/usr/sbin/ovs-vswitchd")) || !Files.isExecutable(Path.of("/usr/bin/ovs-vsctl"))) {
            why = "Open vSwitch is not installed (apt-get install openvswitch-switch)";
        }
        if (why != null) {
            if ("true".equalsIgnoreCase(System.getenv("CI"))) {
                Assertions.fail(why);
            }
            Assumptions.abort(why);
        }
    }

    /** Starts ovsdb-server and ovs-vswitchd and creates a bridge with a passive OpenFlow listener on loopback. */
    public static OvsSandbox start() throws IOException {
        requireOvs();
        String suffix = Long.toString(ThreadLocalRandom.current().nextLong(36L * 36 * 36 * 36 * 36), 36);
        Path dir = Files.createTempDirectory("weft-ovs-");
        OvsSandbox s = new OvsSandbox(dir, "brt" + suffix, freePort());
        try {
            s.startDaemonsAndBridge();
            return s;
        } catch (IOException | RuntimeException e) {
            s.close();
            throw e;
        }
    }

    /**
     * Like {@link #start()} but runs ovsdb-server and ovs-vswitchd inside a new, uniquely named network namespace
     * (as a simulated node): the bridge's TAP, internal ports and veth host ends stay out of the host namespace.
     * The UNIX sockets are files, reachable from the caller's namespace. The namespace is deleted on close.
     */
    public static OvsSandbox startInNetns() throws IOException {
        requireOvs();
        String suffix = Long.toString(ThreadLocalRandom.current().nextLong(36L * 36 * 36 * 36 * 36), 36);
        String ns = "wovs" + suffix;
        Path dir = Files.createTempDirectory("weft-ovs-");
        OvsSandbox s = new OvsSandbox(dir, "brt" + suffix, freePort(), ns);
        try {
            s.run(List.of("ip", "netns", "add", ns));
            s.run(List.of("ip", "netns", "exec", ns, "ip", "link", "set", "lo", "up"));
            s.startDaemonsAndBridge();
            return s;
        } catch (IOException | RuntimeException e) {
            s.close();
            throw e;
        }
    }

    private void startDaemonsAndBridge() throws IOException {
        startDaemons();
        vsctl("add-br", bridge, "--", "set", "bridge", bridge, "datapath_type=netdev",
                "protocols=OpenFlow10,OpenFlow13,OpenFlow15", "fail_mode=secure");
        vsctl("set-controller", bridge, "ptcp:" + openflowPort + ":127.0.0.1");
    }

    /** The command prefixed to run in the sandbox's namespace (unchanged without one). */
    private List<String> inNetns(List<String> cmd) {
        if (netns == null) {
            return cmd;
        }
        List<String> full = new ArrayList<>(List.of("ip", "netns", "exec", netns));
        full.addAll(cmd);
        return full;
    }

    private void startDaemons() throws IOException {
        Path db = dir.resolve("conf.db");
        run(List.of("ovsdb-tool", "create", db.toString(), "/usr/share/openvswitch/vswitch.ovsschema"));
        run(inNetns(List.of("ovsdb-server", db.toString(), "--remote=punix:" + dbSocket(),
                "--remote=db:Open_vSwitch,Open_vSwitch,manager_options", "--pidfile=" + dir.resolve("ovsdb-server.pid"),
                "--detach", "-vconsole:off", "--log-file=" + dir.resolve("ovsdb-server.log"),
                "--unixctl=" + dir.resolve("ovsdb-server.ctl"))));
        run(List.of("ovs-vsctl", "--db=unix:" + dbSocket(), "--no-wait", "init"));
        startVswitchd();
    }

    /** (Re)starts ovs-vswitchd; flows are lost, ports come back from OVSDB (what a real OVS restart does). */
    public void startVswitchd() throws IOException {
        run(inNetns(List.of("ovs-vswitchd", "unix:" + dbSocket(), "--pidfile=" + dir.resolve("ovs-vswitchd.pid"), "--detach",
                "-vconsole:off", "--log-file=" + dir.resolve("ovs-vswitchd.log"),
                "--unixctl=" + dir.resolve("ovs-vswitchd.ctl"))));
    }

    /** Kills ovsdb-server (SIGKILL, as a crash) and starts it again on the same database and socket. */
    public void restartOvsdbServer() throws IOException {
        kill(dir.resolve("ovsdb-server.pid"));
        Files.deleteIfExists(dbSocket());
        Path db = dir.resolve("conf.db");
        run(inNetns(List.of("ovsdb-server", db.toString(), "--remote=punix:" + dbSocket(),
                "--remote=db:Open_vSwitch,Open_vSwitch,manager_options", "--pidfile=" + dir.resolve("ovsdb-server.pid"),
                "--detach", "-vconsole:off", "--log-file=" + dir.resolve("ovsdb-server.log"),
                "--unixctl=" + dir.resolve("ovsdb-server.ctl"))));
    }

    /** Kills ovs-vswitchd (SIGKILL, as a crash) and waits until it is gone. */
    public void killVswitchd() throws IOException {
        kill(dir.resolve("ovs-vswitchd.pid"));
    }

    public Path dbSocket() {
        return dir.resolve("db.sock");
    }

    public Path mgmtSocket() {
        return dir.resolve(bridge + ".mgmt");
    }

    public String vsctl(String... args) throws IOException {
        List<String> cmd = new ArrayList<>(List.of("ovs-vsctl", "--timeout=10", "--db=unix:" + dbSocket()));
        cmd.addAll(List.of(args));
        return run(cmd);
    }

    public String ofctl(String... args) throws IOException {
        List<String> cmd = new ArrayList<>(List.of("ovs-ofctl", "-O", "OpenFlow13"));
        cmd.addAll(List.of(args));
        return run(cmd);
    }

    /** Flows of the bridge, as ovs-ofctl prints them (without the reply header). */
    public List<String> dumpFlows(String... filter) throws IOException {
        List<String> args = new ArrayList<>(List.of("dump-flows", "--no-stats", mgmtSocket().toString()));
        args.addAll(List.of(filter));
        return run(List.copyOf(prependOfctl(args))).lines()
                .map(String::trim).filter(l -> !l.isEmpty() && !l.startsWith("OFPST_FLOW") && !l.startsWith("NXST_FLOW"))
                .toList();
    }

    private static List<String> prependOfctl(List<String> args) {
        List<String> cmd = new ArrayList<>(List.of("ovs-ofctl", "-O", "OpenFlow13"));
        cmd.addAll(args);
        return cmd;
    }

    public String run(List<String> cmd) throws IOException {
        // Output goes to a file, not a pipe: a dump of many flows would fill the pipe and block the tool until the
        // timeout while nobody reads it.
        Path outFile = Files.createTempFile("weft-ovs-cmd-", ".out");
        ProcessBuilder pb = new ProcessBuilder(cmd).redirectErrorStream(true).redirectOutput(outFile.toFile());
        pb.environment().putAll(env);
        String out;
        try {
            Process p = pb.start();
            try {
                if (!p.waitFor(30, TimeUnit.SECONDS)) {
                    p.destroyForcibly();
                    throw new IOException("timed out: " + String.join(" ", cmd));
                }
            } catch (InterruptedException e) {
                Thread.currentThread().interrupt();
                throw new IOException("interrupted: " + String.join(" ", cmd), e);
            }
            out = Files.readString(outFile, StandardCharsets.UTF_8);
            if (p.exitValue() != 0) {
                throw new IOException(String.join(" ", cmd) + " failed (" + p.exitValue() + "): " + out);
            }
            return out;
        } finally {
            Files.deleteIfExists(outFile);
        }
    }

    private static void kill(Path pidFile) throws IOException {
        if (!Files.exists(pidFile)) {
            return;
        }
        long pid = Long.parseLong(Files.readString(pidFile).trim());
        ProcessHandle.of(pid).ifPresent(h -> {
            h.destroyForcibly();
            try {
                h.onExit().get(10, TimeUnit.SECONDS);
            } catch (Exception e) {
                // reported by the caller's next step
            }
        });
        Files.deleteIfExists(pidFile);
    }

    private static int freePort() throws IOException {
        try (ServerSocket s = new ServerSocket(0)) {
            return s.getLocalPort();
        }
    }

    @Override
    public void close() {
        try {
            if (Files.exists(dbSocket())) {
                vsctl("--if-exists", "del-br", bridge);
            }
        } catch (IOException e) {
            // the daemons may already be gone
        }
        try {
            kill(dir.resolve("ovs-vswitchd.pid"));
            kill(dir.resolve("ovsdb-server.pid"));
        } catch (IOException e) {
            // nothing more we can do
        }
        if (netns != null) {
            try {
                run(List.of("ip", "netns", "del", netns));
            } catch (IOException e) {
                // already gone
            }
        }
        try (var files = Files.walk(dir)) {
            files.sorted(java.util.Comparator.reverseOrder()).forEach(f -> f.toFile().delete());
        } catch (IOException e) {
            // temp dir
        }
    }
}
