package dev.weft.agent.host;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;

import java.io.File;
import java.io.IOException;
import java.io.InputStream;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.Optional;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.ExecutionException;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.TimeoutException;

/**
 * Runs the node's networking tools (iproute2, nft) in the node's network namespace: {@code agent.node-netns} when set
 * (several simulated nodes on one machine), otherwise the agent's own, which on a real node is the host's. Every
 * command is bounded by a timeout and its output is read while it runs, so a stuck tool fails the step instead of
 * hanging the agent.
 */
public final class HostCommands {

    private static final ObjectMapper JSON = new ObjectMapper();
    private static final Duration TIMEOUT = Duration.ofSeconds(20);

    private final Optional<String> netns;

    public HostCommands(Optional<String> netns) {
        this.netns = netns.filter(s -> !s.isBlank());
    }

    /** The node namespace's name, empty for the agent's own. */
    public Optional<String> netns() {
        return netns;
    }

    /** {@code ip ARGS} in the node namespace. */
    public String ip(String... args) throws IOException {
        List<String> cmd = new ArrayList<>(List.of("ip"));
        netns.ifPresent(ns -> cmd.addAll(List.of("-n", ns)));
        cmd.addAll(List.of(args));
        return run(cmd, null);
    }

    /** {@code ip -j ARGS}: iproute2's JSON output, parsed. */
    public JsonNode ipJson(String... args) throws IOException {
        List<String> all = new ArrayList<>(List.of("-j"));
        all.addAll(List.of(args));
        String out = ip(all.toArray(String[]::new));
        // iproute2 prints nothing at all (not "[]") for some empty listings.
        return out.isBlank() ? JSON.createArrayNode() : JSON.readTree(out);
    }

    /** Several ip commands in one process ({@code ip -batch -}); stops at the first that fails. */
    public void ipBatch(List<String> commands) throws IOException {
        if (commands.isEmpty()) {
            return;
        }
        List<String> cmd = new ArrayList<>(List.of("ip"));
        netns.ifPresent(ns -> cmd.addAll(List.of("-n", ns)));
        cmd.addAll(List.of("-batch", "-"));
        run(cmd, String.join("\n", commands) + "\n");
    }

    /** A program in the node namespace, with {@code stdin} (may be null) as its input. */
    public String inNode(String stdin, String... args) throws IOException {
        List<String> cmd = new ArrayList<>();
        netns.ifPresent(ns -> cmd.addAll(List.of("ip", "netns", "exec", ns)));
        cmd.addAll(List.of(args));
        return run(cmd, stdin);
    }

    /**
     * Writes a sysctl of the node namespace, e.g. {@code net/ipv4/ip_forward}. /proc/sys/net is per network
     * namespace: our own is written directly, another one's from a shell inside it (no procps needed).
     */
    public void writeSysctl(String key, String value) throws IOException {
        if (!key.matches("[a-z0-9_./-]+") || !value.matches("[0-9]+")) {
            throw new IllegalArgumentException("not a sysctl key/number: " + key + "=" + value);
        }
        Path file = Path.of("/proc/sys").resolve(key);
        if (netns.isEmpty()) {
            Files.writeString(file, value);
            return;
        }
        inNode(null, "sh", "-c", "echo " + value + " > " + file);
    }

    public String readSysctl(String key) throws IOException {
        Path file = Path.of("/proc/sys").resolve(key);
        if (netns.isEmpty()) {
            return Files.readString(file).trim();
        }
        return inNode(null, "cat", file.toString()).trim();
    }

    /** The executable on the agent's PATH (shared with the node namespace: ip netns exec keeps the file system). */
    public static Optional<Path> findExecutable(String name) {
        String path = System.getenv("PATH");
        List<String> dirs = new ArrayList<>(List.of((path == null ? "" : path).split(File.pathSeparator)));
        // Tools in sbin are often missing from a service's PATH.
        dirs.addAll(List.of("/usr/sbin", "/sbin", "/usr/bin", "/bin"));
        for (String d : dirs) {
            if (d.isBlank()) {
                continue;
            }
            Path p = Path.of(d, name);
            if (Files.isExecutable(p)) {
                return Optional.of(p);
            }
        }
        return Optional.empty();
    }

    static String run(List<String> cmd, String stdin) throws IOException {
        Exit e = exec(cmd, stdin);
        if (e.code() != 0) {
            throw new IOException(String.join(" ", cmd) + " failed (exit " + e.code() + "): " + e.output().trim());
        }
        return e.output();
    }

    /** How a command ended: exit status and output (stdout and stderr together). */
    record Exit(int code, String output) {
    }

    /** Runs a command to its end (bounded by the timeout) whatever its exit status. */
    static Exit exec(List<String> cmd, String stdin) throws IOException {
        Process p = new ProcessBuilder(cmd).redirectErrorStream(true).start();
        CompletableFuture<String> output = CompletableFuture.supplyAsync(() -> readAll(p.getInputStream()),
                r -> Thread.ofVirtual().start(r));
        try {
            if (stdin != null) {
                p.getOutputStream().write(stdin.getBytes(StandardCharsets.UTF_8));
            }
            p.getOutputStream().close();
        } catch (IOException e) {
            // the tool exited without reading its input: its exit status and output say why
        }
        try {
            if (!p.waitFor(TIMEOUT.toMillis(), TimeUnit.MILLISECONDS)) {
                p.destroyForcibly();
                throw new IOException("timed out after " + TIMEOUT.toSeconds() + " s: " + String.join(" ", cmd));
            }
            return new Exit(p.exitValue(), output.get(5, TimeUnit.SECONDS));
        } catch (InterruptedException e) {
            p.destroyForcibly();
            Thread.currentThread().interrupt();
            throw new IOException("interrupted: " + String.join(" ", cmd), e);
        } catch (ExecutionException | TimeoutException e) {
            throw new IOException("cannot read the output of " + String.join(" ", cmd) + ": " + e.getMessage(), e);
        }
    }

    private static String readAll(InputStream in) {
        try {
            return new String(in.readAllBytes(), StandardCharsets.UTF_8);
        } catch (IOException e) {
            return "";
        }
    }
}
