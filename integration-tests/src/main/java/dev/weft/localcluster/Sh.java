package dev.weft.localcluster;

import java.io.IOException;
import java.io.UncheckedIOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.concurrent.TimeUnit;

/** Runs short external commands (ip, ovs-vsctl, ...) and returns their output; failures carry the command and its stderr. */
final class Sh {
    private Sh() {
    }

    record Result(List<String> command, int exitCode, String out, String err) {
        boolean ok() {
            return exitCode == 0;
        }

        Result check() {
            if (exitCode != 0) {
                throw new CommandFailedException(this);
            }
            return this;
        }
    }

    static final class CommandFailedException extends RuntimeException {
        final Result result;

        CommandFailedException(Result result) {
            super("command failed (exit " + result.exitCode + "): " + String.join(" ", result.command)
                    + (result.err.isBlank() ? "" : "\n  " + result.err.strip().replace("\n", "\n  ")));
            this.result = result;
        }
    }

    static Result run(String... command) {
        return run(List.of(command), Map.of(), null, 60);
    }

    static Result check(String... command) {
        return run(command).check();
    }

    static Result run(List<String> command, Map<String, String> env, byte[] stdin, int timeoutSeconds) {
        ProcessBuilder pb = new ProcessBuilder(command);
        pb.environment().putAll(env);
        try {
            Path errFile = java.nio.file.Files.createTempFile("weft-sh", ".err");
            try {
                pb.redirectError(errFile.toFile());
                Process p = pb.start();
                try (var in = p.getOutputStream()) {
                    if (stdin != null) {
                        in.write(stdin);
                    }
                }
                byte[] out = p.getInputStream().readAllBytes();
                if (!p.waitFor(timeoutSeconds, TimeUnit.SECONDS)) {
                    p.destroyForcibly();
                    throw new IllegalStateException("timed out after " + timeoutSeconds + " s: " + String.join(" ", command));
                }
                String err = java.nio.file.Files.readString(errFile);
                return new Result(List.copyOf(command), p.exitValue(), new String(out, StandardCharsets.UTF_8), err);
            } finally {
                java.nio.file.Files.deleteIfExists(errFile);
            }
        } catch (IOException e) {
            throw new UncheckedIOException("cannot run " + String.join(" ", command), e);
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
            throw new IllegalStateException("interrupted: " + String.join(" ", command), e);
        }
    }

    static List<String> cmd(Object... parts) {
        List<String> list = new ArrayList<>();
        for (Object part : parts) {
            if (part instanceof List<?> l) {
                l.forEach(x -> list.add(x.toString()));
            } else {
                list.add(part.toString());
            }
        }
        return list;
    }
}
