package dev.weft.cni.shim;

import java.io.IOException;
import java.io.PrintStream;
import java.nio.charset.StandardCharsets;

/** The plugin executable's entry point (launched by the {@code weft-cni} script). */
public final class Main {

    private Main() {
    }

    public static void main(String[] args) throws IOException {
        byte[] stdin = System.in.readAllBytes();
        PrintStream out = new PrintStream(new java.io.FileOutputStream(java.io.FileDescriptor.out), false, StandardCharsets.UTF_8);
        int status = Shim.run(System.getenv(), stdin, out);
        out.flush();
        // halt: skip shutdown hooks and non-daemon netty threads; everything the kubelet needs is on stdout.
        Runtime.getRuntime().halt(status);
    }

    private static boolean epollPreloaded;

    /**
     * Netty extracts its epoll library from the jar to a temp file on every start; the launcher ships it extracted
     * ({@code -Dweft.cni.epoll=...}) and loading it first makes Netty find its natives already bound.
     */
    static synchronized void preloadEpoll() {
        if (epollPreloaded) {
            return;
        }
        epollPreloaded = true;
        String lib = System.getProperty("weft.cni.epoll");
        if (lib != null && new java.io.File(lib).isFile()) {
            try {
                System.load(lib);
            } catch (UnsatisfiedLinkError e) {
                // Netty falls back to extracting its own copy.
            }
        }
    }
}
