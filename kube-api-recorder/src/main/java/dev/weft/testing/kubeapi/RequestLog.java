package dev.weft.testing.kubeapi;

import io.fabric8.kubernetes.client.http.BasicBuilder;
import io.fabric8.kubernetes.client.http.HttpRequest;
import io.fabric8.kubernetes.client.http.Interceptor;

import java.io.IOException;
import java.io.UncheckedIOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardOpenOption;
import java.util.Optional;

/**
 * Writes one line per Kubernetes API request to {@code target/kube-api-requests.tsv} of the module under test
 * (truncated by the first request of a test JVM): {@code WHO<TAB>METHOD<TAB>PATH?QUERY<TAB>CLASS}. Quarkus loads
 * this class once per application it starts (a class loader each), so what must hold for the whole JVM -- the file
 * truncated once, lines not interleaved -- is kept in a system property and in appends of whole lines.
 * <p>
 * WHO is {@code fixture} when the innermost {@code dev.weft} class on the calling stack is a test class (compiled to
 * {@code target/test-classes}: a test creating Nodes or Pods), otherwise {@code service} (the service's own code, or
 * a thread of the client, e.g. an informer's list and watch). CLASS is that innermost class, {@code -} if none.
 */
final class RequestLog implements Interceptor {

    static final RequestLog INSTANCE = new RequestLog();
    static final Path MODULE = Path.of(System.getProperty("user.dir"));
    /** {@code weft.kube-api-log} names another file (the failsafe ITs of a module write their own). */
    static final Path FILE = MODULE.resolve("target").resolve(System.getProperty("weft.kube-api-log", "kube-api-requests.tsv"));
    static final Path TEST_CLASSES = MODULE.resolve("target/test-classes");

    /** Set (JVM-wide) once this JVM has truncated the file. */
    private static final String STARTED = "weft.kube-api-recorder.started";

    @Override
    public void before(BasicBuilder builder, HttpRequest request, RequestTags tags) {
        String caller = innermostWeftClass().orElse("-");
        String who = !caller.equals("-") && isTestClass(caller) ? "fixture" : "service";
        String query = request.uri().getRawQuery();
        write(who + "\t" + request.method() + "\t" + request.uri().getRawPath() + (query == null ? "" : "?" + query) + "\t" + caller);
    }

    private static Optional<String> innermostWeftClass() {
        return StackWalker.getInstance().walk(frames -> frames.map(StackWalker.StackFrame::getClassName)
                .filter(c -> c.startsWith("dev.weft.") && !c.startsWith("dev.weft.testing.kubeapi.")).findFirst());
    }

    private static boolean isTestClass(String className) {
        int inner = className.indexOf('$');
        String outer = inner < 0 ? className : className.substring(0, inner);
        return Files.exists(TEST_CLASSES.resolve(outer.replace('.', '/') + ".class"));
    }

    private static void write(String line) {
        try {
            synchronized (System.getProperties()) {
                if (System.getProperty(STARTED) == null) {
                    Files.createDirectories(FILE.getParent());
                    Files.deleteIfExists(FILE);
                    System.setProperty(STARTED, "true");
                }
            }
            // One write(2) per line in append mode: lines of concurrent threads do not mix.
            Files.writeString(FILE, line + "\n", StandardCharsets.UTF_8, StandardOpenOption.CREATE, StandardOpenOption.APPEND);
        } catch (IOException e) {
            throw new UncheckedIOException("cannot write " + FILE, e);
        }
    }
}
