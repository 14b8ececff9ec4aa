package dev.weft.localcluster;

import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.TimeUnit;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.fail;

/**
 * Drives ./localcluster against one private state directory: its verbs in this JVM, or the real launcher process.
 * Under CI=true a machine without root or Open vSwitch FAILS the tests instead of skipping them.
 */
final class Cli {
    record Run(int exitCode, String output) {
    }

    final Path repo;
    final Path home;

    Cli(String name) {
        this.repo = Path.of(System.getProperty("weft.repo", "..")).toAbsolutePath().normalize();
        this.home = repo.resolve("integration-tests/target/localcluster-it/" + name + "-" + Long.toHexString(System.nanoTime() & 0xffffff));
    }

    static void requireRootAndOvs() {
        boolean root = "root".equals(System.getProperty("user.name"));
        boolean ovs = Files.isExecutable(Path.of("/usr/sbin/ovs-vswitchd")) || Files.isExecutable(Path.of("/usr/bin/ovs-vswitchd"));
        if (root && ovs) {
            return;
        }
        String why = (root ? "" : "not root; ") + (ovs ? "" : "Open vSwitch not installed");
        if ("true".equals(System.getenv("CI"))) {
            fail("the local cluster ITs need root and Open vSwitch: " + why);
        }
        org.junit.jupiter.api.Assumptions.abort("local cluster ITs skipped outside CI: " + why);
    }

    Run run(String... args) {
        return run(600, args);
    }

    /**
     * Runs the verb in this JVM (same code as the launcher, without a JVM start per call: the suite makes hundreds of
     * calls on 2 cores); {@link #launch} runs the real ./localcluster process.
     */
    Run run(int timeoutSeconds, String... args) {
        var bytes = new java.io.ByteArrayOutputStream();
        var out = new java.io.PrintStream(bytes, true, StandardCharsets.UTF_8);
        int rc = LocalCluster.run(args, out, out, new Layout(home, repo));
        String text = bytes.toString(StandardCharsets.UTF_8);
        System.out.println("$ ./localcluster " + String.join(" ", args) + "\n" + text);
        return new Run(rc, text);
    }

    Run launch(int timeoutSeconds, String... args) {
        List<String> command = new ArrayList<>();
        command.add(repo.resolve("localcluster").toString());
        command.addAll(List.of(args));
        ProcessBuilder pb = new ProcessBuilder(command).redirectErrorStream(true);
        pb.environment().put("LOCALCLUSTER_HOME", home.toString());
        try {
            Process p = pb.start();
            p.getOutputStream().close();
            byte[] out = p.getInputStream().readAllBytes();
            if (!p.waitFor(timeoutSeconds, TimeUnit.SECONDS)) {
                p.destroyForcibly();
                fail("./localcluster " + String.join(" ", args) + " did not finish in " + timeoutSeconds + " s");
            }
            String text = new String(out, StandardCharsets.UTF_8);
            System.out.println("$ ./localcluster " + String.join(" ", args) + "\n" + text);
            return new Run(p.exitValue(), text);
        } catch (IOException e) {
            throw new java.io.UncheckedIOException(e);
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
            throw new IllegalStateException(e);
        }
    }

    String ok(String... args) {
        Run r = run(args);
        assertEquals(0, r.exitCode(), () -> "./localcluster " + String.join(" ", args) + " failed:\n" + r.output() + logs());
        return r.output();
    }

    /** The last lines of every log, for failure messages. */
    String logs() {
        StringBuilder sb = new StringBuilder();
        Path logs = home.resolve("logs");
        if (Files.isDirectory(logs)) {
            try (var s = Files.list(logs)) {
                for (Path f : s.filter(Files::isRegularFile).sorted().toList()) {
                    sb.append("\n--- ").append(f.getFileName()).append('\n').append(Cluster.tail(f, 15));
                }
            } catch (IOException e) {
                sb.append(e);
            }
        }
        return sb.toString();
    }

    Path write(String name, String yaml) {
        try {
            Path dir = home.resolveSibling(home.getFileName() + "-manifests");
            Files.createDirectories(dir);
            Path f = dir.resolve(name);
            Files.writeString(f, yaml);
            return f;
        } catch (IOException e) {
            throw new java.io.UncheckedIOException(e);
        }
    }
}
