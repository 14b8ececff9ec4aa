package dev.weft.localcluster;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Optional;

/**
 * Processes the local cluster started, recorded as {@code <pid> <start time>} files so that {@code down} kills only
 * them: a recycled PID has another start time (field 22 of /proc/PID/stat) and is left alone.
 */
final class Procs {
    private Procs() {
    }

    record Recorded(long pid, long startTime) {
        boolean alive() {
            return startTimeOf(pid).filter(t -> t == startTime).isPresent();
        }
    }

    static Optional<Long> startTimeOf(long pid) {
        try {
            String stat = Files.readString(Path.of("/proc/" + pid + "/stat"));
            // comm may contain spaces and parentheses: fields are counted after the last ')'.
            String[] fields = stat.substring(stat.lastIndexOf(')') + 2).trim().split(" ");
            return Optional.of(Long.parseLong(fields[19]));
        } catch (IOException | RuntimeException e) {
            return Optional.empty();
        }
    }

    static void record(Path file, long pid) throws IOException {
        long start = startTimeOf(pid).orElse(0L);
        Files.createDirectories(file.getParent());
        Path tmp = file.resolveSibling(file.getFileName() + ".tmp");
        Files.writeString(tmp, pid + " " + start + "\n");
        Files.move(tmp, file, java.nio.file.StandardCopyOption.REPLACE_EXISTING, java.nio.file.StandardCopyOption.ATOMIC_MOVE);
    }

    static Optional<Recorded> read(Path file) {
        try {
            String[] parts = Files.readString(file).trim().split("\\s+");
            return Optional.of(new Recorded(Long.parseLong(parts[0]), parts.length > 1 ? Long.parseLong(parts[1]) : 0L));
        } catch (IOException | RuntimeException e) {
            return Optional.empty();
        }
    }

    /** SIGTERM, then SIGKILL after the grace period; only if the PID still is the recorded process. */
    static boolean stop(Recorded proc, long graceMillis) {
        if (!proc.alive()) {
            return false;
        }
        Optional<ProcessHandle> handle = ProcessHandle.of(proc.pid());
        if (handle.isEmpty()) {
            return false;
        }
        handle.get().destroy();
        long deadline = System.currentTimeMillis() + graceMillis;
        while (proc.alive() && System.currentTimeMillis() < deadline) {
            sleep(20);
        }
        if (proc.alive()) {
            handle.get().destroyForcibly();
            long killDeadline = System.currentTimeMillis() + 2000;
            while (proc.alive() && System.currentTimeMillis() < killDeadline) {
                sleep(20);
            }
        }
        return true;
    }

    /** SIGTERM to every still-identical process, one shared grace period, then SIGKILL to the survivors. */
    static int stopAll(java.util.List<Recorded> procs, long graceMillis) {
        int stopped = 0;
        for (Recorded p : procs) {
            if (p.alive()) {
                ProcessHandle.of(p.pid()).ifPresent(ProcessHandle::destroy);
                stopped++;
            }
        }
        long deadline = System.currentTimeMillis() + graceMillis;
        while (procs.stream().anyMatch(Recorded::alive) && System.currentTimeMillis() < deadline) {
            sleep(20);
        }
        for (Recorded p : procs) {
            if (p.alive()) {
                ProcessHandle.of(p.pid()).ifPresent(ProcessHandle::destroyForcibly);
            }
        }
        long killDeadline = System.currentTimeMillis() + 2000;
        while (procs.stream().anyMatch(Recorded::alive) && System.currentTimeMillis() < killDeadline) {
            sleep(20);
        }
        return stopped;
    }

    static void sleep(long millis) {
        try {
            Thread.sleep(millis);
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
            throw new IllegalStateException(e);
        }
    }
}
