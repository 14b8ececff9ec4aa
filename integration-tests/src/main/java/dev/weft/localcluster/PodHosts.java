package dev.weft.localcluster;

import io.fabric8.kubernetes.api.model.Service;

import java.io.IOException;
import java.io.UncheckedIOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardCopyOption;
import java.util.ArrayList;
import java.util.Comparator;
import java.util.List;

/**
 * How Service names resolve inside pods without cluster DNS: an {@code /etc/hosts} per pod netns at
 * {@code /etc/netns/NETNS/hosts}, which {@code ip netns exec NETNS} bind-mounts over {@code /etc/hosts} for the
 * command it runs (iproute2's convention), so {@code ./localcluster exec POD -- wget http://nginx} finds the Service.
 * It lists the pod's own name and, for every Service with a cluster IP, the names cluster DNS would answer:
 * {@code NAME} (only for Services of the pod's namespace, as the search path {@code NS.svc.cluster.local} would),
 * {@code NAME.NS}, {@code NAME.NS.svc} and {@code NAME.NS.svc.cluster.local}.
 */
final class PodHosts {
    static final Path ETC_NETNS = Path.of("/etc/netns");

    private PodHosts() {
    }

    static String render(String podNamespace, String podName, String podIp, List<Service> services) {
        StringBuilder sb = new StringBuilder("# written by the local cluster's kubelet: Service names (no cluster DNS)\n");
        sb.append("127.0.0.1\tlocalhost\n");
        if (podIp != null && !podIp.isBlank()) {
            sb.append(podIp).append('\t').append(podName).append('\n');
        }
        List<Service> sorted = new ArrayList<>(services);
        sorted.sort(Comparator.comparing((Service s) -> s.getMetadata().getNamespace()).thenComparing(s -> s.getMetadata().getName()));
        for (Service s : sorted) {
            String ip = s.getSpec() == null ? null : s.getSpec().getClusterIP();
            if (ip == null || ip.isBlank() || "None".equals(ip)) {
                continue;
            }
            String n = s.getMetadata().getName();
            String ns = s.getMetadata().getNamespace();
            sb.append(ip).append('\t');
            if (ns.equals(podNamespace)) {
                sb.append(n).append(' ');
            }
            sb.append(n).append('.').append(ns).append(' ').append(n).append('.').append(ns).append(".svc ")
                    .append(n).append('.').append(ns).append(".svc.cluster.local\n");
        }
        return sb.toString();
    }

    static Path file(String netns) {
        return ETC_NETNS.resolve(netns).resolve("hosts");
    }

    /** Writes the file if its content changed (atomically: a running {@code exec} sees the old or the new one). */
    static boolean write(String netns, String content) {
        Path f = file(netns);
        try {
            if (Files.exists(f) && Files.readString(f).equals(content)) {
                return false;
            }
            Files.createDirectories(f.getParent());
            Path tmp = f.resolveSibling("hosts.tmp");
            Files.writeString(tmp, content);
            Files.move(tmp, f, StandardCopyOption.ATOMIC_MOVE, StandardCopyOption.REPLACE_EXISTING);
            return true;
        } catch (IOException e) {
            throw new UncheckedIOException("cannot write " + f, e);
        }
    }

    /** Removes {@code /etc/netns/NETNS} (ours: only the hosts file is in it). */
    static void remove(String netns) {
        Path dir = ETC_NETNS.resolve(netns);
        try {
            Files.deleteIfExists(dir.resolve("hosts.tmp"));
            Files.deleteIfExists(dir.resolve("hosts"));
            Files.deleteIfExists(dir);
        } catch (IOException e) {
            // not empty (someone else put a file there) or already gone: leave it
        }
    }
}
