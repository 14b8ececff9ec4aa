package dev.weft.agent.cni;

import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.HashMap;
import java.util.Map;
import java.util.concurrent.TimeUnit;

import static org.junit.jupiter.api.Assertions.fail;

/** Runs the real CNI plugin launcher (cni-shim/target/weft-cni/weft-cni) as the kubelet does: env vars + stdin. */
final class ShimProcess {

    record Outcome(int exit, String stdout, String stderr, long nanos) {
    }

    static Path launcher() {
        Path p = Path.of("..", "cni-shim", "target", "weft-cni", "weft-cni").toAbsolutePath().normalize();
        if (!Files.isExecutable(p)) {
            fail("the CNI shim is not built: " + p + " (./mvnw -q package -pl net,cni-shim)");
        }
        return p;
    }

    static Outcome run(Map<String, String> cniEnv, String stdin) throws IOException, InterruptedException {
        ProcessBuilder pb = new ProcessBuilder(launcher().toString());
        Map<String, String> env = pb.environment();
        // The kubelet passes only CNI_* (and PATH); no JAVA_HOME or tool options.
        Map<String, String> keep = new HashMap<>();
        keep.put("PATH", System.getenv().getOrDefault("PATH", "/usr/sbin:/usr/bin:/sbin:/bin"));
        env.clear();
        env.putAll(keep);
        env.putAll(cniEnv);
        long start = System.nanoTime();
        Process p = pb.start();
        p.getOutputStream().write(stdin.getBytes(StandardCharsets.UTF_8));
        p.getOutputStream().close();
        byte[] out = p.getInputStream().readAllBytes();
        byte[] err = p.getErrorStream().readAllBytes();
        if (!p.waitFor(120, TimeUnit.SECONDS)) {
            p.destroyForcibly();
            fail("the shim did not finish");
        }
        long nanos = System.nanoTime() - start;
        return new Outcome(p.exitValue(), new String(out, StandardCharsets.UTF_8), new String(err, StandardCharsets.UTF_8), nanos);
    }

    static Map<String, String> env(String command, String containerId, String netns, String ifName, String ns, String pod) {
        Map<String, String> env = new HashMap<>();
        env.put("CNI_COMMAND", command);
        env.put("CNI_CONTAINERID", containerId);
        env.put("CNI_NETNS", netns);
        env.put("CNI_IFNAME", ifName);
        env.put("CNI_ARGS", "IgnoreUnknown=1;K8S_POD_NAMESPACE=" + ns + ";K8S_POD_NAME=" + pod + ";K8S_POD_INFRA_CONTAINER_ID=" + containerId);
        env.put("CNI_PATH", "/opt/cni/bin");
        return env;
    }
}
