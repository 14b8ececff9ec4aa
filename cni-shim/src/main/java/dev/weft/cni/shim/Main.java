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
        // halt: skip shutdown hooks; everything the kubelet needs is on stdout.
        Runtime.getRuntime().halt(status);
    }

}
