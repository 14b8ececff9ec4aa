package dev.weft.agent.ipam;

import com.fasterxml.jackson.databind.ObjectMapper;
import dev.weft.agent.AgentConfig;
import dev.weft.net.AddressFormatException;
import dev.weft.net.IpAddress;
import jakarta.enterprise.context.ApplicationScoped;
import jakarta.inject.Inject;
import org.jboss.logging.Logger;

import java.io.IOException;
import java.nio.channels.FileChannel;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardCopyOption;
import java.nio.file.StandardOpenOption;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Optional;
import java.util.function.Predicate;

/**
 * Node-local IP allocation from this node's IPv4 pod CIDR. Every change is written (atomically: temp file, fsync,
 * rename) to {@code <agent.state-dir>/ipam/leases.json} before the caller sees it, so a crash or restart never hands an
 * address out twice. Allocation is next-fit (a cursor moves forward) so a just-released address is not reused at once,
 * which keeps stale ARP/conntrack state of a deleted pod away from a new one.
 */
@ApplicationScoped
public class NodeIpAllocator {

    private static final Logger LOG = Logger.getLogger(NodeIpAllocator.class);
    private static final ObjectMapper JSON = new ObjectMapper();

    /** The persisted form. */
    public record LeaseFile(String cidr, long cursor, List<IpLease> leases) {
    }

    private Path file;
    private PodSubnet cidr;
    private long cursor;
    private final Map<String, IpLease> byIp = new LinkedHashMap<>();

    @Inject
    AgentConfig config;

    NodeIpAllocator() {
    }

    /** For use outside CDI (tests, benchmarks). */
    public NodeIpAllocator(Path stateDir) {
        this.file = stateDir.resolve("ipam").resolve("leases.json");
    }

    private Path file() {
        if (file == null) {
            file = config.stateDir().resolve("ipam").resolve("leases.json");
        }
        return file;
    }

    /**
     * Sets the node CIDR and loads persisted leases. Leases outside the CIDR (the node was given another block) cannot
     * be valid any more and are dropped, with a warning.
     */
    public synchronized void configure(PodSubnet cidr) throws IpamException {
        this.cidr = null;
        byIp.clear();
        cursor = 0;
        Path f = file();
        if (Files.exists(f)) {
            try {
                LeaseFile lf = JSON.readValue(f.toFile(), LeaseFile.class);
                for (IpLease l : lf.leases() == null ? List.<IpLease>of() : lf.leases()) {
                    IpAddress ip;
                    try {
                        ip = IpAddress.parse(l.ip());
                    } catch (AddressFormatException e) {
                        byIp.clear();
                        throw new IpamException(IpamException.Reason.IO, "cannot read IP leases " + f + ": lease of "
                                + l.namespace() + "/" + l.name() + ": " + e.getMessage(), e);
                    }
                    if (cidr.contains(ip)) {
                        byIp.put(l.ip(), l);
                    } else {
                        LOG.warnf("dropping lease %s of %s/%s: outside the node CIDR %s", l.ip(), l.namespace(), l.name(), cidr);
                    }
                }
                cursor = cidr.toString().equals(lf.cidr()) ? lf.cursor() : 0;
            } catch (IOException e) {
                byIp.clear();
                // Refuse to start from a corrupt file: handing out addresses blind could duplicate live ones.
                throw new IpamException(IpamException.Reason.IO, "cannot read IP leases " + f + ": " + e.getMessage(), e);
            }
        }
        this.cidr = cidr;
        persist();
        LOG.infof("node IPAM on %s: %d leases restored from %s", cidr, byIp.size(), f);
    }

    public synchronized Optional<PodSubnet> cidr() {
        return Optional.ofNullable(cidr);
    }

    /**
     * The address of this attachment: its existing lease (an ADD retried by the kubelet gets the same address), or the
     * next free one.
     */
    public synchronized IpLease allocate(String containerId, String ifName, String namespace, String name) throws IpamException {
        if (cidr == null) {
            throw new IpamException(IpamException.Reason.NOT_READY, "the node's pod CIDR is not known yet", null);
        }
        for (IpLease l : byIp.values()) {
            if (l.ownedBy(containerId, ifName)) {
                return l;
            }
        }
        long size = cidr.size();
        for (long step = 0; step < size; step++) {
            long offset = (cursor + step) % size;
            IpAddress ip = cidr.at(offset);
            String text = ip.toString();
            if (cidr.usableForPod(ip) && !byIp.containsKey(text)) {
                IpLease lease = new IpLease(text, containerId, ifName, namespace, name, System.currentTimeMillis());
                byIp.put(text, lease);
                long previousCursor = cursor;
                cursor = (offset + 1) % size;
                try {
                    persist();
                } catch (IpamException e) {
                    byIp.remove(text);
                    cursor = previousCursor;
                    throw e;
                }
                return lease;
            }
        }
        throw new IpamException(IpamException.Reason.EXHAUSTED,
                "no free address in " + cidr + " (" + byIp.size() + " leases)", null);
    }

    /** Releases the attachment's lease; empty when it had none (DEL is idempotent). */
    public synchronized Optional<IpLease> release(String containerId, String ifName) throws IpamException {
        for (IpLease l : List.copyOf(byIp.values())) {
            if (l.ownedBy(containerId, ifName)) {
                byIp.remove(l.ip());
                try {
                    persist();
                } catch (IpamException e) {
                    byIp.put(l.ip(), l);
                    throw e;
                }
                return Optional.of(l);
            }
        }
        return Optional.empty();
    }

    public synchronized Optional<IpLease> lease(String containerId, String ifName) {
        return byIp.values().stream().filter(l -> l.ownedBy(containerId, ifName)).findFirst();
    }

    public synchronized List<IpLease> leases() {
        return List.copyOf(byIp.values());
    }

    /** Re-adds a lease known from elsewhere (an OVS port survived a lost lease file); false if the IP is taken. */
    public synchronized boolean adopt(IpLease lease) throws IpamException {
        Optional<IpAddress> ip = IpAddress.tryParse(lease.ip());
        if (cidr == null || ip.isEmpty() || !cidr.contains(ip.get()) || byIp.containsKey(lease.ip())) {
            return false;
        }
        byIp.put(lease.ip(), lease);
        persist();
        return true;
    }

    /** Releases every lease that {@code dead} proves dead; returns them. */
    public synchronized List<IpLease> releaseIf(Predicate<IpLease> dead) throws IpamException {
        List<IpLease> released = new ArrayList<>();
        for (IpLease l : List.copyOf(byIp.values())) {
            if (dead.test(l)) {
                byIp.remove(l.ip());
                released.add(l);
            }
        }
        if (!released.isEmpty()) {
            persist();
        }
        return released;
    }

    private void persist() throws IpamException {
        Path f = file();
        try {
            Files.createDirectories(f.getParent());
            Path tmp = f.resolveSibling(f.getFileName() + ".tmp");
            byte[] bytes = JSON.writerWithDefaultPrettyPrinter().writeValueAsBytes(
                    new LeaseFile(cidr == null ? "" : cidr.toString(), cursor, List.copyOf(byIp.values())));
            try (FileChannel ch = FileChannel.open(tmp, StandardOpenOption.CREATE, StandardOpenOption.WRITE,
                    StandardOpenOption.TRUNCATE_EXISTING)) {
                ch.write(java.nio.ByteBuffer.wrap(bytes));
                ch.force(true);
            }
            Files.move(tmp, f, StandardCopyOption.ATOMIC_MOVE, StandardCopyOption.REPLACE_EXISTING);
        } catch (IOException e) {
            throw new IpamException(IpamException.Reason.IO, "cannot persist IP leases to " + f + ": " + e.getMessage(), e);
        }
    }
}
