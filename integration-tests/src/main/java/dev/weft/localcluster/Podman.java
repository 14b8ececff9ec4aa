package dev.weft.localcluster;

import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.TimeUnit;

/**
 * podman as the image tests drive it: with the flags this machine needs (images/src/main/sh/podman-flags.sh), every
 * container it started removed again by {@link #close()}.
 */
public final class Podman implements AutoCloseable {

    /** A finished command: exit status and what it printed. */
    public record Result(int exit, String out, String err) {
    }

    private final List<String> global;
    private final List<String> runFlags;
    private final List<String> started = new ArrayList<>();

    public Podman(Path repo) throws IOException, InterruptedException {
        Path flags = repo.resolve("images/src/main/sh/podman-flags.sh");
        this.global = lines(exec(List.of("bash", flags.toString(), "global"), 30), flags);
        this.runFlags = lines(exec(List.of("bash", flags.toString(), "run"), 30), flags);
    }

    private static List<String> lines(Result r, Path script) {
        if (r.exit() != 0) {
            throw new IllegalStateException(script + " failed: " + r.err());
        }
        return r.out().lines().filter(l -> !l.isBlank()).toList();
    }

    /** {@code podman run -d --name NAME <run flags> ARGS...}; the container is removed on close. */
    public String runDetached(String name, List<String> args) throws IOException, InterruptedException {
        List<String> cmd = new ArrayList<>(List.of("run", "-d", "--name", name));
        cmd.addAll(runFlags);
        cmd.addAll(args);
        started.add(name);
        return check(podman(cmd, 120)).out().strip();
    }

    /** {@code podman run --rm <run flags> ARGS...} to completion. */
    public Result runToCompletion(List<String> args, int timeoutSeconds) throws IOException, InterruptedException {
        List<String> cmd = new ArrayList<>(List.of("run", "--rm"));
        cmd.addAll(runFlags);
        cmd.addAll(args);
        return podman(cmd, timeoutSeconds);
    }

    public Result podman(List<String> args, int timeoutSeconds) throws IOException, InterruptedException {
        List<String> cmd = new ArrayList<>(List.of("podman"));
        cmd.addAll(global);
        cmd.addAll(args);
        return exec(cmd, timeoutSeconds);
    }

    public String logs(String name) throws IOException, InterruptedException {
        Result r = podman(List.of("logs", "--tail", "40", name), 30);
        return r.out() + r.err();
    }

    public static Result check(Result r) {
        if (r.exit() != 0) {
            throw new IllegalStateException("exit " + r.exit() + ": " + r.err() + r.out());
        }
        return r;
    }

    public static Result exec(List<String> cmd, int timeoutSeconds) throws IOException, InterruptedException {
        Process p = new ProcessBuilder(cmd).start();
        p.getOutputStream().close();
        StringBuilder outText = new StringBuilder();
        StringBuilder errText = new StringBuilder();
        Thread outDrain = drain(p.getInputStream(), outText);
        Thread errDrain = drain(p.getErrorStream(), errText);
        if (!p.waitFor(timeoutSeconds, TimeUnit.SECONDS)) {
            p.destroyForcibly();
            throw new IllegalStateException(String.join(" ", cmd) + " did not finish within " + timeoutSeconds + " s");
        }
        outDrain.join();
        errDrain.join();
        return new Result(p.exitValue(), outText.toString(), errText.toString());
    }

    private static Thread drain(java.io.InputStream in, StringBuilder into) {
        return Thread.ofVirtual().start(() -> {
            try {
                String text = new String(in.readAllBytes(), StandardCharsets.UTF_8);
                synchronized (into) {
                    into.append(text);
                }
            } catch (IOException ignored) {
                // the process went away
            }
        });
    }

    @Override
    public void close() throws IOException, InterruptedException {
        for (String name : started.reversed()) {
            podman(List.of("rm", "--force", "--time", "5", name), 60);
        }
        started.clear();
    }
}
