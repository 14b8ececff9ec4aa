package dev.weft.agent.policy;

import io.micrometer.core.instrument.Counter;
import io.micrometer.core.instrument.MeterRegistry;
import org.jboss.logging.Logger;

import java.io.IOException;
import java.io.Writer;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardCopyOption;
import java.nio.file.StandardOpenOption;
import java.util.Map;
import java.util.concurrent.ConcurrentHashMap;

/**
 * Writes each denied connection as one line to a size-rotated file ({@code np-denied.log}, then {@code .1} ...
 * {@code .N}, newest first) and counts it in {@code weft_agent_denied_connections_total} by policy and direction.
 * Runs on the packet-in thread; the meter in front bounds how often. A write that fails is logged once and counted in
 * the metric all the same (the metric never depends on the disk).
 */
public final class DeniedConnectionLog implements DeniedConnections.Listener, AutoCloseable {

    private static final Logger LOG = Logger.getLogger(DeniedConnectionLog.class);

    private final Path file;
    private final long maxBytes;
    private final int maxFiles;
    private final MeterRegistry registry;
    private final Map<String, Counter> counters = new ConcurrentHashMap<>();
    private Writer out;
    private long size;
    private boolean failedOnce;

    public DeniedConnectionLog(Path file, long maxBytes, int maxFiles, MeterRegistry registry) {
        if (maxBytes < 1 || maxFiles < 0) {
            throw new IllegalArgumentException("denied-connection log: max file bytes must be > 0 and max files >= 0, not "
                    + maxBytes + " and " + maxFiles);
        }
        this.file = file;
        this.maxBytes = maxBytes;
        this.maxFiles = maxFiles;
        this.registry = registry;
    }

    @Override
    public void denied(DeniedConnections.Denied d) {
        for (String policy : d.policies().isEmpty() ? java.util.List.of("") : d.policies()) {
            counters.computeIfAbsent(policy + "\n" + d.direction(), k -> Counter.builder("weft.agent.denied.connections")
                    .description("New connections denied by NetworkPolicies annotated weft.dev/log, as logged "
                            + "(at most the denied-log meter's rate)")
                    .tag("policy", policy).tag("direction", d.direction()).register(registry)).increment();
        }
        write(d.logLine() + "\n");
    }

    private synchronized void write(String line) {
        try {
            byte[] bytes = line.getBytes(StandardCharsets.UTF_8);
            if (out == null) {
                open();
            }
            if (size > 0 && size + bytes.length > maxBytes) {
                rotate();
            }
            out.write(line);
            out.flush();
            size += bytes.length;
        } catch (IOException e) {
            if (!failedOnce) {
                failedOnce = true;
                LOG.warnf("denied-connection log %s not written (further failures are not logged): %s", file, e.getMessage());
            }
            closeQuietly();
        }
    }

    private void open() throws IOException {
        if (file.getParent() != null) {
            Files.createDirectories(file.getParent());
        }
        out = Files.newBufferedWriter(file, StandardCharsets.UTF_8, StandardOpenOption.CREATE, StandardOpenOption.APPEND);
        size = Files.size(file);
    }

    /** np-denied.log.(N-1) -> .N, ..., np-denied.log -> .1; the oldest beyond N is deleted. */
    private void rotate() throws IOException {
        closeQuietly();
        if (maxFiles == 0) {
            Files.deleteIfExists(file);
        } else {
            Files.deleteIfExists(rotated(maxFiles));
            for (int i = maxFiles - 1; i >= 1; i--) {
                if (Files.exists(rotated(i))) {
                    Files.move(rotated(i), rotated(i + 1), StandardCopyOption.REPLACE_EXISTING);
                }
            }
            Files.move(file, rotated(1), StandardCopyOption.REPLACE_EXISTING);
        }
        open();
    }

    Path rotated(int n) {
        return file.resolveSibling(file.getFileName() + "." + n);
    }

    private void closeQuietly() {
        if (out != null) {
            try {
                out.close();
            } catch (IOException e) {
                // the next write reopens
            }
            out = null;
        }
    }

    @Override
    public synchronized void close() {
        closeQuietly();
    }
}
