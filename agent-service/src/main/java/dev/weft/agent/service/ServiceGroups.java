package dev.weft.agent.service;

import dev.weft.agent.openflow.GroupMod;
import dev.weft.agent.openflow.OfAction;
import dev.weft.agent.pipeline.PipelineTable;

import java.util.ArrayList;
import java.util.List;

import static dev.weft.agent.pipeline.PipelineFields.ENDPOINT_IP_FIELD;
import static dev.weft.agent.pipeline.PipelineFields.ENDPOINT_PORT_FIELD;

/**
 * The select groups of one Service port, with no fixed endpoint cap and a uniform spread.
 *
 * <p><b>Uniform spread.</b> Given equal weights, Open vSwitch maps a select group onto a table of at most a few
 * thousand dp_hash values (a power of two), which is uneven whenever the endpoint count does not divide it: 3
 * endpoints get 6/5/5 of 16 values, 70 get 2 or 1 of 128 (twice as much traffic for some). A group whose weights
 * would need too many hash values falls back to Open vSwitch's default selection: for each new connection every
 * bucket scores {@code hash(bucket position, 5-tuple hash) * weight} and the highest wins (rendezvous hashing), which
 * is uniform over equal weights. So every group with two endpoints or more starts with {@link #SENTINEL_WEIGHT}
 * buckets of weight 1 (they never win in practice: against endpoints of weight 65535 they would need every endpoint's
 * score to fall under 1/65535 of their own) and gives each endpoint weight {@link #ENDPOINT_WEIGHT}. The cost: the
 * choice is made per new connection in the slow path (one upcall per connection, not per packet).
 *
 * <p><b>No cap.</b> One group_mod holds about 800 endpoint buckets (80 bytes each). Up to {@link #maxSingle()}
 * endpoints fit one group. Beyond, two levels: the endpoints are split into {@code m} chunks as equal as possible
 * (sizes differ by at most one), each chunk a group; the Service's group has one bucket per chunk (equal weights)
 * that continues with {@code group:<chunk>}. Rendezvous scores depend on the bucket position, so a chunk group's
 * first {@code m} positions are sentinels (weight 1) and its endpoints sit at positions {@code m, m+1, ...}: the
 * positions that decided the chunk never decide the endpoint, and the two choices are independent. An endpoint's
 * share is {@code 1/m * 1/c} for a chunk of size c, within {@code 1/floor(N/m)} of {@code 1/N} (a fraction of a per
 * cent). Two levels hold {@link #maxEndpoints()} endpoints per Service port.
 */
public final class ServiceGroups {

    public static final int ENDPOINT_WEIGHT = 0xffff;
    public static final int SENTINEL_WEIGHT = 1;
    /** Chunk groups per Service port (the low 8 bits of a group id are the chunk number). */
    public static final int MAX_CHUNKS = 255;
    private static final int BUCKET_BYTES = endpointBucket(new ServiceEndpoint("10.0.0.1", 1)).size();
    private static final int MAX_BUCKETS = GroupMod.maxBuckets(BUCKET_BYTES);

    private ServiceGroups() {
    }

    /** The most endpoints one group holds (with its sentinel). */
    public static int maxSingle() {
        return MAX_BUCKETS - 1;
    }

    /** The most endpoints a Service port's two levels hold. */
    public static int maxEndpoints() {
        return MAX_CHUNKS * (MAX_BUCKETS - MAX_CHUNKS);
    }

    /** Loads the endpoint into EndpointIPField / EndpointPortField and continues in EndpointDNAT. */
    static GroupMod.Bucket endpointBucket(ServiceEndpoint e) {
        return endpointBucket(e, ENDPOINT_WEIGHT, PipelineTable.ENDPOINT_DNAT);
    }

    /**
     * {@code next}: EndpointDNAT, or DNAT for a Service port with session affinity (its flow there learns the endpoint
     * first). Either is one resubmit of the same size, so the bucket counts above hold for both.
     */
    private static GroupMod.Bucket endpointBucket(ServiceEndpoint e, int weight, PipelineTable next) {
        return new GroupMod.Bucket(weight, List.of(OfAction.RegLoad.of(ENDPOINT_IP_FIELD, e.ipv4()),
                OfAction.RegLoad.of(ENDPOINT_PORT_FIELD, e.port()), new OfAction.Resubmit(next.id)));
    }

    /**
     * The groups of a Service port with these endpoints (at least one): the first is the Service's ({@code groupId});
     * chunk groups, when needed, are {@code groupId + 1 ...}.
     */
    public static List<GroupMod> groups(int groupId, List<ServiceEndpoint> endpoints) {
        return groups(groupId, endpoints, PipelineTable.ENDPOINT_DNAT);
    }

    /** The groups whose endpoint buckets continue in {@code next} (see {@link #endpointBucket(ServiceEndpoint, int, PipelineTable)}). */
    public static List<GroupMod> groups(int groupId, List<ServiceEndpoint> endpoints, PipelineTable next) {
        int n = endpoints.size();
        if (n == 0) {
            throw new IllegalArgumentException("a Service group needs an endpoint");
        }
        if (n == 1) {
            return List.of(GroupMod.select(groupId, List.of(endpointBucket(endpoints.get(0), ENDPOINT_WEIGHT, next))));
        }
        if (n <= maxSingle()) {
            return List.of(GroupMod.select(groupId, withSentinels(1, endpoints, next)));
        }
        if (n > maxEndpoints()) {
            throw new IllegalArgumentException(n + " endpoints: more than the " + maxEndpoints()
                    + " two levels of groups hold for one Service port");
        }
        int m = 2;
        while ((long) m * (MAX_BUCKETS - m) < n) {
            m++;
        }
        List<GroupMod> out = new ArrayList<>();
        List<GroupMod.Bucket> top = new ArrayList<>();
        int at = 0;
        for (int j = 0; j < m; j++) {
            int size = n / m + (j < n % m ? 1 : 0);
            int chunkId = groupId + 1 + j;
            out.add(GroupMod.select(chunkId, withSentinels(m, endpoints.subList(at, at + size), next)));
            at += size;
            top.add(new GroupMod.Bucket(ENDPOINT_WEIGHT, List.of(new OfAction.Group(chunkId))));
        }
        // the Service's own group falls back to rendezvous hashing too (its sentinel continues with the first chunk)
        top.add(new GroupMod.Bucket(SENTINEL_WEIGHT, List.of(new OfAction.Group(groupId + 1))));
        out.addFirst(GroupMod.select(groupId, top));
        return out;
    }

    /** {@code sentinels} buckets of weight 1 (the first endpoint's actions), then every endpoint at full weight. */
    private static List<GroupMod.Bucket> withSentinels(int sentinels, List<ServiceEndpoint> endpoints, PipelineTable next) {
        List<GroupMod.Bucket> b = new ArrayList<>(sentinels + endpoints.size());
        for (int i = 0; i < sentinels; i++) {
            b.add(endpointBucket(endpoints.get(0), SENTINEL_WEIGHT, next));
        }
        for (ServiceEndpoint e : endpoints) {
            b.add(endpointBucket(e, ENDPOINT_WEIGHT, next));
        }
        return b;
    }
}
