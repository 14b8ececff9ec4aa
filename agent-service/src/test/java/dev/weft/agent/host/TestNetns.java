package dev.weft.agent.host;

import org.junit.jupiter.api.Assertions;
import org.junit.jupiter.api.Assumptions;

import java.io.IOException;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.ThreadLocalRandom;

/**
 * A network namespace made for one test, with a unique name (helpers run in parallel on one machine), deleted on
 * close with everything in it (its veth ends, nftables tables, routes).
 */
final class TestNetns implements AutoCloseable {

    final String name;

    private TestNetns(String name) {
        this.name = name;
    }

    /** A short random suffix: interface names have 15 characters at most. */
    static String suffix() {
        return Long.toString(ThreadLocalRandom.current().nextLong(36L * 36 * 36 * 36 * 36), 36);
    }

    static TestNetns create(String prefix) throws IOException {
        TestNetns ns = new TestNetns(prefix + suffix());
        HostCommands.run(List.of("ip", "netns", "add", ns.name), null);
        ns.exec("ip", "link", "set", "lo", "up");
        return ns;
    }

    /** A command inside the namespace; fails on a non-zero exit. */
    String exec(String... cmd) throws IOException {
        List<String> full = new ArrayList<>(List.of("ip", "netns", "exec", name));
        full.addAll(List.of(cmd));
        return HostCommands.run(full, null);
    }

    /** A bash script inside the namespace; returns its exit status and output without failing. */
    HostCommands.Exit sh(String script) throws IOException {
        return HostCommands.exec(List.of("ip", "netns", "exec", name, "bash", "-c", script), null);
    }

    /** Fails under CI, skips elsewhere, when the machine cannot run these tests (root, ip, nft). */
    static void requireRootAndNft() {
        String why = null;
        if (!"root".equals(System.getProperty("user.name"))) {
            why = "tests with network namespaces and nftables need root";
        } else if (HostCommands.findExecutable("nft").isEmpty()) {
            why = "nft is not installed (apt-get install nftables)";
        } else if (HostCommands.findExecutable("ip").isEmpty()) {
            why = "ip is not installed (apt-get install iproute2)";
        }
        if (why != null) {
            if ("true".equalsIgnoreCase(System.getenv("CI"))) {
                Assertions.fail(why);
            }
            Assumptions.abort(why);
        }
    }

    @Override
    public void close() {
        try {
            HostCommands.run(List.of("ip", "netns", "del", name), null);
        } catch (IOException e) {
            // already gone
        }
    }
}
