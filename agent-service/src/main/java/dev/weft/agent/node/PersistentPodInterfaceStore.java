package dev.weft.agent.node;

import com.fasterxml.jackson.core.type.TypeReference;
import com.fasterxml.jackson.databind.ObjectMapper;
import dev.weft.agent.AgentConfig;
import jakarta.enterprise.context.ApplicationScoped;
import jakarta.inject.Inject;
import org.jboss.logging.Logger;

import java.io.IOException;
import java.nio.ByteBuffer;
import java.nio.channels.FileChannel;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardCopyOption;
import java.nio.file.StandardOpenOption;
import java.util.Collection;
import java.util.Comparator;
import java.util.List;
import java.util.Map;
import java.util.Optional;
import java.util.concurrent.ConcurrentHashMap;

/**
 * The pods the CNI server has plumbed on this node, keyed by CNI attachment (container id + ifname), persisted to
 * {@code <agent.state-dir>/cni/pods.json} on every change so that a restarted agent knows every pod it wired.
 */
@ApplicationScoped
public class PersistentPodInterfaceStore implements PodInterfaceStore {

    private static final Logger LOG = Logger.getLogger(PersistentPodInterfaceStore.class);
    private static final ObjectMapper JSON = new ObjectMapper();

    private final Map<String, PodInterface> byAttachment = new ConcurrentHashMap<>();
    private Path file;
    private boolean loaded;

    @Inject
    AgentConfig config;

    PersistentPodInterfaceStore() {
    }

    public PersistentPodInterfaceStore(Path stateDir) {
        this.file = stateDir.resolve("cni").resolve("pods.json");
    }

    private static String attachment(String containerId, String ifName) {
        return containerId + "/" + ifName;
    }

    private synchronized void ensureLoaded() {
        if (loaded) {
            return;
        }
        if (file == null) {
            file = config.stateDir().resolve("cni").resolve("pods.json");
        }
        if (Files.exists(file)) {
            try {
                List<PodInterface> pods = JSON.readValue(file.toFile(), new TypeReference<List<PodInterface>>() { });
                pods.forEach(p -> byAttachment.put(attachment(p.containerId(), p.ifName()), p));
            } catch (IOException e) {
                // The leases file is the source of truth for addresses; this one is rebuilt from OVS on reconcile.
                LOG.warnf("ignoring unreadable %s: %s", file, e.getMessage());
            }
        }
        loaded = true;
    }

    @Override
    public Collection<PodInterface> all() {
        ensureLoaded();
        return byAttachment.values().stream().sorted(Comparator.comparing(PodInterface::key)).toList();
    }

    @Override
    public Optional<PodInterface> byPod(String namespace, String name) {
        ensureLoaded();
        return byAttachment.values().stream()
                .filter(p -> p.namespace().equals(namespace) && p.name().equals(name))
                .max(Comparator.comparing(p -> "eth0".equals(p.ifName()) ? 1 : 0));
    }

    @Override
    public Optional<PodInterface> byOfport(int ofport) {
        ensureLoaded();
        return byAttachment.values().stream().filter(p -> p.ofport() == ofport).findFirst();
    }

    public Optional<PodInterface> byAttachment(String containerId, String ifName) {
        ensureLoaded();
        return Optional.ofNullable(byAttachment.get(attachment(containerId, ifName)));
    }

    public synchronized void put(PodInterface pod) throws IOException {
        ensureLoaded();
        PodInterface previous = byAttachment.put(attachment(pod.containerId(), pod.ifName()), pod);
        try {
            persist();
        } catch (IOException e) {
            if (previous == null) {
                byAttachment.remove(attachment(pod.containerId(), pod.ifName()));
            } else {
                byAttachment.put(attachment(pod.containerId(), pod.ifName()), previous);
            }
            throw e;
        }
    }

    public synchronized Optional<PodInterface> remove(String containerId, String ifName) throws IOException {
        ensureLoaded();
        PodInterface removed = byAttachment.remove(attachment(containerId, ifName));
        if (removed != null) {
            persist();
        }
        return Optional.ofNullable(removed);
    }

    private void persist() throws IOException {
        Files.createDirectories(file.getParent());
        Path tmp = file.resolveSibling(file.getFileName() + ".tmp");
        byte[] bytes = JSON.writerWithDefaultPrettyPrinter().writeValueAsBytes(
                byAttachment.values().stream().sorted(Comparator.comparing(PodInterface::key)).toList());
        try (FileChannel ch = FileChannel.open(tmp, StandardOpenOption.CREATE, StandardOpenOption.WRITE,
                StandardOpenOption.TRUNCATE_EXISTING)) {
            ch.write(ByteBuffer.wrap(bytes));
            ch.force(true);
        }
        Files.move(tmp, file, StandardCopyOption.ATOMIC_MOVE, StandardCopyOption.REPLACE_EXISTING);
    }
}
