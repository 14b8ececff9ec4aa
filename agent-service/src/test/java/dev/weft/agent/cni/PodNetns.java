package dev.weft.agent.cni;

import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.ThreadLocalRandom;

/** A pod sandbox stand-in the way a container runtime makes one: a named network namespace. Deleted on close. */
final class PodNetns implements AutoCloseable {
    final String name;

    PodNetns() throws IOException {
        name = "wpod" + Long.toString(ThreadLocalRandom.current().nextLong(1L << 40), 36);
        run("ip", "netns", "add", name);
    }

    String path() {
        return "/var/run/netns/" + name;
    }

    String exec(String... cmd) throws IOException {
        List<String> full = new ArrayList<>(List.of("ip", "netns", "exec", name));
        full.addAll(List.of(cmd));
        return run(full.toArray(String[]::new));
    }

    static String run(String... cmd) throws IOException {
        Process p = new ProcessBuilder(cmd).redirectErrorStream(true).start();
        String out = new String(p.getInputStream().readAllBytes(), StandardCharsets.UTF_8);
        try {
            if (p.waitFor() != 0) {
                throw new IOException(String.join(" ", cmd) + ": " + out);
            }
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
            throw new IOException(e);
        }
        return out;
    }

    @Override
    public void close() {
        try {
            run("ip", "netns", "del", name);
        } catch (IOException e) {
            // already gone
        }
    }
}
