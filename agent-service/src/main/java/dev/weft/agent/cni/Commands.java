package dev.weft.agent.cni;

import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.util.ArrayList;
import java.util.List;
import java.util.Optional;
import java.util.concurrent.TimeUnit;

/**
 * Runs iproute2/ethtool in the right network namespace. Interface plumbing uses the system tools on purpose:
 * they are the reference implementation of netlink for veth/netns moves and are present on every node; OVS itself
 * is driven over OVSDB, not by forking ovs-vsctl.
 */
final class Commands {

    private final Optional<String> nodeNetns;

    Commands(Optional<String> nodeNetns) {
        this.nodeNetns = nodeNetns.filter(s -> !s.isBlank());
    }

    /** {@code ip ...} in the node namespace (agent.node-netns) or our own. */
    String ipNode(String... args) throws IOException {
        List<String> cmd = new ArrayList<>(List.of("ip"));
        nodeNetns.ifPresent(ns -> cmd.addAll(List.of("-n", ns)));
        cmd.addAll(List.of(args));
        return run(cmd);
    }

    /** A command inside the pod's network namespace, given as a path (CNI_NETNS). */
    String inPod(String netnsPath, String... args) throws IOException {
        List<String> cmd = new ArrayList<>(List.of("nsenter", "--net=" + netnsPath));
        cmd.addAll(List.of(args));
        return run(cmd);
    }

    /** A command in the node namespace. */
    String inNode(String... args) throws IOException {
        List<String> cmd = new ArrayList<>();
        nodeNetns.ifPresent(ns -> cmd.addAll(List.of("ip", "netns", "exec", ns)));
        cmd.addAll(List.of(args));
        return run(cmd);
    }

    /** {@code ip -batch -} in the node namespace: several link operations for the price of one process. */
    String ipNodeBatch(String commands) throws IOException {
        List<String> cmd = new ArrayList<>(List.of("ip"));
        nodeNetns.ifPresent(ns -> cmd.addAll(List.of("-n", ns)));
        cmd.addAll(List.of("-batch", "-"));
        return run(cmd, commands);
    }

    /** A shell script inside the pod's network namespace (one nsenter; the script's own commands only). */
    String inPodScript(String netnsPath, String script) throws IOException {
        return run(List.of("nsenter", "--net=" + netnsPath, "sh", "-e", "-s"), script);
    }

    static String run(List<String> cmd) throws IOException {
        return run(cmd, null);
    }

    static String run(List<String> cmd, String stdin) throws IOException {
        Process p = new ProcessBuilder(cmd).redirectErrorStream(true).start();
        if (stdin != null) {
            p.getOutputStream().write(stdin.getBytes(StandardCharsets.UTF_8));
        }
        p.getOutputStream().close();
        String out = new String(p.getInputStream().readAllBytes(), StandardCharsets.UTF_8);
        try {
            if (!p.waitFor(20, TimeUnit.SECONDS)) {
                p.destroyForcibly();
                throw new IOException("timed out: " + String.join(" ", cmd));
            }
        } catch (InterruptedException e) {
            p.destroyForcibly();
            Thread.currentThread().interrupt();
            throw new IOException("interrupted: " + String.join(" ", cmd), e);
        }
        if (p.exitValue() != 0) {
            throw new IOException(String.join(" ", cmd) + ": " + out.trim());
        }
        return out;
    }
}
